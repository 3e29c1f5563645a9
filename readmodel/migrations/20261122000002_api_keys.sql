-- migrate:up
-- API keys (PRD §8.1): random secrets shown once, stored as SHA-256 hashes. Written by
-- the API only (not job state).
CREATE TABLE api_keys (
    id                   uuid PRIMARY KEY,
    name                 text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    key_prefix           text NOT NULL,
    key_hash             text NOT NULL UNIQUE,
    scopes               text[] NOT NULL DEFAULT ARRAY['jobs:read', 'jobs:write'],
    rate_limit_per_hour  integer NOT NULL DEFAULT 100 CHECK (rate_limit_per_hour > 0),
    is_active            boolean NOT NULL DEFAULT true,
    created_at           timestamptz NOT NULL DEFAULT now(),
    last_used_at         timestamptz,
    revoked_at           timestamptz,
    rotated_at           timestamptz
);

-- Fixed-window request counters per key and hour, shared by every API process.
CREATE TABLE rate_limit_windows (
    api_key_id    uuid NOT NULL,
    window_start  timestamptz NOT NULL,
    count         integer NOT NULL,
    PRIMARY KEY (api_key_id, window_start)
);

-- PRD usage_stats: per key per day.
CREATE TABLE usage_stats (
    api_key_id      uuid NOT NULL,
    day             date NOT NULL,
    requests        integer NOT NULL DEFAULT 0,
    jobs_submitted  integer NOT NULL DEFAULT 0,
    bytes_uploaded  bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (api_key_id, day)
);

-- migrate:down
DROP TABLE usage_stats;
DROP TABLE rate_limit_windows;
DROP TABLE api_keys;
