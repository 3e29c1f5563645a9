"""notifier: webhooks on a job's terminal state, signed, retried, recorded."""
