"""projector: folds the JOBS stream into the Postgres read model (the only writer of job state)."""
