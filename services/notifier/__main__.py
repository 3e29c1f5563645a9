"""`python -m services.notifier`: the process its declaration derives."""

from services.notifier import SERVICE

SERVICE.main()
