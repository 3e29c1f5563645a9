"""runtime/storage."""
