-- migrate:up
-- Exact job counts per API key and status, maintained by the projector in the same
-- transaction as the rows: list totals are O(1) instead of counting every match.
-- Jobs without a key count under the nil UUID.
CREATE TABLE job_counts (
    api_key_id  uuid NOT NULL,
    status      text NOT NULL,
    n           bigint NOT NULL,
    PRIMARY KEY (api_key_id, status)
);
INSERT INTO job_counts (api_key_id, status, n)
SELECT coalesce(api_key_id, '00000000-0000-0000-0000-000000000000'), status, count(*) FROM jobs GROUP BY 1, 2;

-- migrate:down
DROP TABLE job_counts;
