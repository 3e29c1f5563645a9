"""notifier: signed webhooks on a job's terminal state (an outbox over the read model)."""
from services.notifier.main import main

main()
