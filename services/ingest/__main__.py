"""`python -m services.ingest`: the process its declaration derives."""

from services.ingest import SERVICE

SERVICE.main()
