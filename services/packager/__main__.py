from services.packager.main import main

main()
