"""runtime/observability."""
