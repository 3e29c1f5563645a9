"""notifier process."""

from services.notifier.service import main

__all__ = ["main"]
