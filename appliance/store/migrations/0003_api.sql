-- dialbox schema v3: what the REST API needs (SPEC O3, D6, O8).

-- API tokens: shown once at creation, stored as a SHA-256 hash (they are 256-bit random strings,
-- so a fast hash is enough: nothing to brute-force), revocable, scoped.
CREATE TABLE tokens (
    id           INTEGER PRIMARY KEY,
    name         TEXT NOT NULL UNIQUE,
    scope        TEXT NOT NULL CHECK (scope IN ('admin', 'crm', 'agent')),
    hash         TEXT NOT NULL UNIQUE,
    created_at   REAL NOT NULL,
    revoked_at   REAL,
    last_used_at REAL
);

-- The results feed: every attempt gets a sequence number when it ends (done or dangling), so a
-- CRM polling "results since cursor" sees each result once, in the order results came to be —
-- attempt ids are given when dials start, and calls end out of that order.
ALTER TABLE attempts ADD COLUMN seq INTEGER;
CREATE UNIQUE INDEX attempts_seq ON attempts(seq) WHERE seq IS NOT NULL;
UPDATE attempts SET seq = id WHERE status <> 'in_flight';

-- The outbox is read per contact in order.
CREATE INDEX outbox_contact ON outbox(contact_id, id) WHERE delivered_at IS NULL;
