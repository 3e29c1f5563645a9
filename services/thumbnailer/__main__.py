from services.thumbnailer.main import main

main()
