"""`python -m services.finalizer`: the process its declaration derives."""

from services.finalizer import SERVICE

SERVICE.main()
