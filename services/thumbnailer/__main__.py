"""`python -m services.thumbnailer`: the process its declaration derives."""

from services.thumbnailer import SERVICE

SERVICE.main()
