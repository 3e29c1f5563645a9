from services.projector.main import main

main()
