"""runtime/worker."""
