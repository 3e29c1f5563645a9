"""`python -m services.transcriber`: the process its declaration derives."""

from services.transcriber import SERVICE

SERVICE.main()
