"""runtime/jetstream."""
