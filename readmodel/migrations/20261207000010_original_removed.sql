-- migrate:up
-- Retention of API-uploaded originals (issue 28, PRD §6.2): when the cleanup removed a
-- job's original, folded from its `original_removed` fact (a rebuild reproduces it).
ALTER TABLE jobs ADD COLUMN original_removed_at timestamptz;

-- migrate:down
ALTER TABLE jobs DROP COLUMN original_removed_at;
