-- migrate:up
-- Per-key webhook signing secret (HMAC-SHA256 needs the secret itself, so it is stored;
-- it signs, it does not authenticate). Jobs without a key use TFLOW_WEBHOOK_SECRET /
-- <data_dir>/webhook.key.
ALTER TABLE api_keys ADD COLUMN webhook_secret text;

-- Every delivery attempt of a job's terminal-state webhook.
CREATE TABLE webhook_deliveries (
    id            bigserial PRIMARY KEY,
    job_id        uuid NOT NULL,
    url           text NOT NULL,
    event         text NOT NULL,
    attempt       integer NOT NULL,
    status_code   integer,
    error         text,
    succeeded     boolean NOT NULL,
    attempted_at  timestamptz NOT NULL DEFAULT now(),
    next_attempt_at timestamptz
);
CREATE INDEX webhook_deliveries_job_idx ON webhook_deliveries (job_id, attempted_at DESC);

-- migrate:down
DROP TABLE webhook_deliveries;
ALTER TABLE api_keys DROP COLUMN webhook_secret;
