-- dialbox schema v9: inbound calls and call flows (SPEC C14, issue #23).

-- Campaigns of type 'inbound' answer calls on their lines. SQLite cannot change a CHECK
-- constraint in place, so the table is made again and its rows copied, ids kept: every row that
-- names a campaign stays valid. (Migrations run with foreign keys off, as SQLite's own procedure
-- for this requires — dropping the old table must not cascade — and store.db checks them before
-- the migration commits.)
CREATE TABLE campaigns_v9 (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE COLLATE NOCASE,
    type        TEXT NOT NULL CHECK (type IN ('agent', 'automated', 'sms', 'inbound')),
    region      TEXT NOT NULL,            -- default region for national numbers (ISO 3166)
    status      TEXT NOT NULL DEFAULT 'stopped' CHECK (status IN ('stopped', 'running', 'paused')),
    strategy_id INTEGER REFERENCES strategies(id),
    filter      TEXT,                     -- D8 expression as the user wrote it
    settings    TEXT NOT NULL DEFAULT '{}', -- JSON of the typed CampaignSettings
    created_at  REAL NOT NULL,
    updated_at  REAL NOT NULL
);
INSERT INTO campaigns_v9(id, name, type, region, status, strategy_id, filter, settings,
                         created_at, updated_at)
    SELECT id, name, type, region, status, strategy_id, filter, settings, created_at, updated_at
    FROM campaigns;
DROP TABLE campaigns;
ALTER TABLE campaigns_v9 RENAME TO campaigns;

-- An attempt is a call the box made ('out') or answered ('in'). An inbound call is an attempt
-- on the caller's contact in the inbound campaign (store/inbound.py): one contact per number,
-- made at the first call, closed (Connected) and never dialed by that campaign. Inbound
-- attempts hold no lease: nothing dials them, and one caller may call on two lines at once.
ALTER TABLE attempts ADD COLUMN direction TEXT NOT NULL DEFAULT 'out'
    CHECK (direction IN ('out', 'in'));

-- The steps a call flow took on an attempt (inbound, or an answered automated call), in order,
-- and the answers its questions got (a survey): kept, exported (D6) and sent to the webhook.
CREATE TABLE attempt_steps (
    attempt_id INTEGER NOT NULL REFERENCES attempts(id) ON DELETE CASCADE,
    seq        INTEGER NOT NULL,          -- 1, 2, … in the order the flow took them
    at         REAL NOT NULL,
    node       TEXT NOT NULL,             -- the flow's node ('' for the box's own notes)
    kind       TEXT NOT NULL,             -- play, digit, branch, queue, dnc, callback, …
    detail     TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (attempt_id, seq)
) WITHOUT ROWID;

CREATE TABLE attempt_answers (
    attempt_id INTEGER NOT NULL REFERENCES attempts(id) ON DELETE CASCADE,
    question   TEXT NOT NULL,             -- the flow's question id
    answer     TEXT NOT NULL,
    PRIMARY KEY (attempt_id, question)
) WITHOUT ROWID;

-- Calls an inbound campaign did not serve: the caller hung up while it rang or while waiting in
-- the queue, the queue overflowed, or the campaign was closed. Listed to be called back (a
-- contact in an outbound campaign, `callback_contact_id`) or dismissed. While a missed call of
-- a number is open, more missed calls of that number add to it (`calls`, `last_at`); a
-- withheld number ('') never does.
CREATE TABLE missed_calls (
    id           INTEGER PRIMARY KEY,
    campaign_id  INTEGER NOT NULL REFERENCES campaigns(id) ON DELETE CASCADE,
    line         TEXT,
    number       TEXT NOT NULL DEFAULT '',  -- E.164; '' when withheld or not a number
    caller_id    TEXT NOT NULL DEFAULT '',  -- the caller ID as the line gave it
    contact_id   INTEGER REFERENCES contacts(id) ON DELETE SET NULL,  -- the caller, if known
    attempt_id   INTEGER REFERENCES attempts(id) ON DELETE SET NULL,  -- the answered call, if any
    reason       TEXT NOT NULL
                 CHECK (reason IN ('hung_up_ringing', 'hung_up_in_queue', 'overflow', 'closed')),
    at           REAL NOT NULL,             -- the first missed call
    last_at      REAL NOT NULL,             -- the latest
    calls        INTEGER NOT NULL DEFAULT 1,
    waited       REAL,                      -- seconds the caller waited (ringing or queued)
    status       TEXT NOT NULL DEFAULT 'open'
                 CHECK (status IN ('open', 'callback_made', 'dismissed')),
    handled_at   REAL,
    handled_by   TEXT,                      -- the actor: 'api:<token>', 'cli:<user>', 'daemon'
    callback_contact_id INTEGER REFERENCES contacts(id) ON DELETE SET NULL
);
CREATE INDEX missed_calls_campaign ON missed_calls(campaign_id, status, id);
CREATE INDEX missed_calls_status ON missed_calls(status, id);
CREATE UNIQUE INDEX missed_calls_open_number ON missed_calls(campaign_id, number)
    WHERE status = 'open' AND number <> '';
-- What deleting a contact or an attempt looks up (ON DELETE SET NULL).
CREATE INDEX missed_calls_contact ON missed_calls(contact_id);
CREATE INDEX missed_calls_attempt ON missed_calls(attempt_id);
CREATE INDEX missed_calls_callback ON missed_calls(callback_contact_id);
