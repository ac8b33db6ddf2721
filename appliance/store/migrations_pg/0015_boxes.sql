-- dialbox schema v15 (PostgreSQL): several boxes on one store (#27); the SQLite twin
-- (migrations/0015_boxes.sql) says what each column is for.

CREATE TABLE boxes (
    id            TEXT PRIMARY KEY,
    version       TEXT NOT NULL,
    lines         TEXT NOT NULL DEFAULT '[]',
    started_at    DOUBLE PRECISION NOT NULL,
    heartbeat_at  DOUBLE PRECISION NOT NULL,
    state         TEXT NOT NULL DEFAULT 'up'
                  CHECK (state IN ('up', 'stopped', 'swept')),  -- its liveness
    draining      INTEGER NOT NULL DEFAULT 0 CHECK (draining IN (0, 1)),
    swept_at      DOUBLE PRECISION,
    swept_by      TEXT,
    instance      TEXT
);

ALTER TABLE attempts ADD COLUMN box TEXT;
ALTER TABLE attempts ADD COLUMN lease_expires DOUBLE PRECISION;
ALTER TABLE attempts ADD COLUMN lease_gen INTEGER NOT NULL DEFAULT 0;
ALTER TABLE contacts ADD COLUMN lease_gen INTEGER NOT NULL DEFAULT 0;

CREATE INDEX attempts_box_in_flight ON attempts(box) WHERE status = 'in_flight';
