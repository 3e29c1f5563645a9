"""`python -m services.api`: the process its declaration derives."""

from services.api import SERVICE

SERVICE.main()
