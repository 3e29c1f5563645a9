from services.transcoder.main import main

main()
