-- migrate:up
-- Facts the projector could not apply (a value Postgres refuses, a fold error): set aside
-- with the reason instead of blocking every later fact; listed by the admin API.
CREATE TABLE projection_failures (
    stream_seq   bigint PRIMARY KEY,
    subject      text NOT NULL,
    job_id       uuid,
    error        text NOT NULL,
    data_base64  text NOT NULL,
    failed_at    timestamptz NOT NULL DEFAULT now()
);

-- migrate:down
DROP TABLE projection_failures;
