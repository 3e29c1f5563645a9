-- migrate:up
-- Indexes in the exact order GET /api/v1/jobs sorts (column, then id as tie-breaker), so a
-- page is an index scan (either direction) instead of a sort of every matching row.
CREATE INDEX jobs_created_id_idx ON jobs (created_at DESC, id DESC);
CREATE INDEX jobs_status_created_id_idx ON jobs (status, created_at DESC, id DESC);
CREATE INDEX jobs_completed_id_idx ON jobs (completed_at DESC NULLS LAST, id DESC);
CREATE INDEX jobs_status_completed_id_idx ON jobs (status, completed_at DESC NULLS LAST, id DESC);
CREATE INDEX jobs_priority_id_idx ON jobs (priority DESC, id DESC);
CREATE INDEX jobs_status_priority_id_idx ON jobs (status, priority DESC, id DESC);
DROP INDEX jobs_status_created_idx;
DROP INDEX jobs_created_idx;
DROP INDEX jobs_completed_idx;
DROP INDEX jobs_priority_idx;

-- migrate:down
CREATE INDEX jobs_status_created_idx ON jobs (status, created_at DESC);
CREATE INDEX jobs_created_idx ON jobs (created_at DESC);
CREATE INDEX jobs_completed_idx ON jobs (completed_at DESC);
CREATE INDEX jobs_priority_idx ON jobs (priority DESC, created_at);
DROP INDEX jobs_status_priority_id_idx;
DROP INDEX jobs_priority_id_idx;
DROP INDEX jobs_status_completed_id_idx;
DROP INDEX jobs_completed_id_idx;
DROP INDEX jobs_status_created_id_idx;
DROP INDEX jobs_created_id_idx;
