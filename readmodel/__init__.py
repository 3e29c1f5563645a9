"""The read model: Postgres tables folded from the JOBS stream by the projector (the only
writer of job state) and read by the API and the notifier. Rows (`rows`), the
projector's SQL (`projection`), the API's job queries (`jobs`), API keys and usage
(`keys`), webhook deliveries (`webhooks`), rows -> API documents (`documents`),
pool and migrations (`db`, `migrations/`)."""
