-- dialbox schema v12: external lists (SPEC D9, issue #26).
--
-- A campaign with `external_list` set mirrors the customer's rows it marked MarkedForDialing (3)
-- as its own contacts (contacts.external_id = the row's key), so DNC, hours, filters, strategy
-- and pacing apply unchanged. `external_rows` is the box's memory of each mirrored row: `held`
-- while the box has it marked and not yet dialed (only held contacts are dialed), and the
-- state it had before (`prev_state`), to which it is released on stop and after a crash.
CREATE TABLE external_rows (
    contact_id  INTEGER PRIMARY KEY REFERENCES contacts(id) ON DELETE CASCADE,
    campaign_id INTEGER NOT NULL REFERENCES campaigns(id) ON DELETE CASCADE,
    list_name   TEXT NOT NULL,
    row_key     TEXT NOT NULL,
    held        INTEGER NOT NULL DEFAULT 0,
    prev_state  INTEGER,
    marked_at   REAL
);
CREATE UNIQUE INDEX external_rows_key ON external_rows(campaign_id, row_key);
CREATE INDEX external_rows_held ON external_rows(campaign_id) WHERE held = 1;

-- What the box owes the customer's table, replayed in id order, one transaction each, retried
-- with back-off while the database is down: an attempt's result (written in the attempt's own
-- closing transaction) or the release of a held row. `payload` is JSON.
CREATE TABLE external_writes (
    id          INTEGER PRIMARY KEY,
    campaign_id INTEGER NOT NULL,
    list_name   TEXT NOT NULL,
    row_key     TEXT NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('result', 'release')),
    payload     TEXT NOT NULL,
    created_at  REAL NOT NULL,
    tries       INTEGER NOT NULL DEFAULT 0,
    last_error  TEXT,
    done_at     REAL
);
CREATE INDEX external_writes_due ON external_writes(list_name, id) WHERE done_at IS NULL;

-- The last round's view of each external campaign, for `why`: the error that stopped it (the
-- connection, a missing column), the rows that match, and the rows others hold.
CREATE TABLE external_status (
    campaign_id   INTEGER PRIMARY KEY REFERENCES campaigns(id) ON DELETE CASCADE,
    list_name     TEXT NOT NULL,
    checked_at    REAL NOT NULL,
    error         TEXT,
    matching      INTEGER NOT NULL DEFAULT 0,
    held_by_others INTEGER NOT NULL DEFAULT 0,
    pending_writes INTEGER NOT NULL DEFAULT 0
);
