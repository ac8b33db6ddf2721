-- dialbox schema v6 on PostgreSQL (migrations/0006_staged_imports.sql says why).
ALTER TABLE imports ADD COLUMN status text NOT NULL DEFAULT 'done'
    CHECK (status IN ('staging', 'publishing', 'done'));
ALTER TABLE imports ADD COLUMN published bigint NOT NULL DEFAULT 0;
CREATE INDEX imports_unfinished ON imports(status) WHERE status <> 'done';
