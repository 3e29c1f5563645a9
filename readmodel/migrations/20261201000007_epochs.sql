-- migrate:up
-- Replays (`tflow replay`): the epoch a job is in (1 + its replays) and the epoch each
-- task must complete in; facts of an older epoch no longer change a task.
ALTER TABLE jobs ADD COLUMN epoch integer NOT NULL DEFAULT 1;
ALTER TABLE tasks ADD COLUMN epoch integer NOT NULL DEFAULT 1;

-- migrate:down
ALTER TABLE tasks DROP COLUMN epoch;
ALTER TABLE jobs DROP COLUMN epoch;
