"""`python -m services.transcoder`: the process its declaration derives."""

from services.transcoder import SERVICE

SERVICE.main()
