-- dialbox schema v13: the e-mail channel (#26, docs/email.md).

-- Attempts may be e-mails. SQLite cannot change a CHECK constraint in place, so the table is
-- made again and its rows copied, ids kept (as 0009 did for campaigns; foreign keys are off
-- while a migration runs and checked before it commits).
CREATE TABLE attempts_v13 (
    id           INTEGER PRIMARY KEY,
    contact_id   INTEGER NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
    campaign_id  INTEGER NOT NULL REFERENCES campaigns(id) ON DELETE CASCADE,
    attempt_no   INTEGER NOT NULL,        -- 1-based per contact
    phone_index  INTEGER,                 -- 1..5
    number       TEXT NOT NULL,           -- E.164 dialed (or SMS destination; an e-mail: the contact's number)
    channel      TEXT NOT NULL CHECK (channel IN ('voice', 'sms', 'email')),
    line         TEXT,
    agent        TEXT,
    status       TEXT NOT NULL DEFAULT 'in_flight' CHECK (status IN ('in_flight', 'done', 'dangling')),
    queued_at    REAL NOT NULL,
    dialed_at    REAL,
    answered_at  REAL,
    ended_at     REAL,
    outcome      INTEGER,                 -- C11 outcome code
    disposition  TEXT,
    evidence     TEXT,                    -- JSON: raw modem/card evidence kept for the record
    seq          INTEGER,
    direction    TEXT NOT NULL DEFAULT 'out' CHECK (direction IN ('out', 'in')),
    UNIQUE (contact_id, attempt_no)
);
INSERT INTO attempts_v13(id, contact_id, campaign_id, attempt_no, phone_index, number, channel,
                         line, agent, status, queued_at, dialed_at, answered_at, ended_at,
                         outcome, disposition, evidence, seq, direction)
    SELECT id, contact_id, campaign_id, attempt_no, phone_index, number, channel, line, agent,
           status, queued_at, dialed_at, answered_at, ended_at, outcome, disposition, evidence,
           seq, direction
    FROM attempts;
DROP TABLE attempts;
ALTER TABLE attempts_v13 RENAME TO attempts;
CREATE INDEX attempts_campaign ON attempts(campaign_id, id);
CREATE INDEX attempts_number ON attempts(number, queued_at);
CREATE INDEX attempts_in_flight ON attempts(status) WHERE status = 'in_flight';
CREATE INDEX attempts_campaign_time ON attempts(campaign_id, queued_at);
CREATE UNIQUE INDEX attempts_seq ON attempts(seq) WHERE seq IS NOT NULL;

-- One e-mail attempt's message and its durable send state: queued (waiting for the relay, also
-- after a 4xx or a relay that is down) -> claimed (being handed over) -> sent (the relay's 250
-- reply kept) or failed (5xx, or given up). A message claimed when the daemon stopped is never
-- handed over again: it may have gone out. The message is made once, so a retry sends the very
-- same bytes with the same Message-ID.
CREATE TABLE email_sends (
    attempt_id  INTEGER PRIMARY KEY REFERENCES attempts(id) ON DELETE CASCADE,
    campaign_id INTEGER NOT NULL REFERENCES campaigns(id) ON DELETE CASCADE,
    contact_id  INTEGER NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
    address     TEXT NOT NULL,
    message_id  TEXT NOT NULL UNIQUE,     -- without the angle brackets
    message     BLOB NOT NULL,            -- the whole RFC 5322 message as sent
    state       TEXT NOT NULL DEFAULT 'queued'
                CHECK (state IN ('queued', 'claimed', 'sent', 'failed')),
    tries       INTEGER NOT NULL DEFAULT 0,
    next_try_at REAL NOT NULL,
    reply       TEXT,                     -- the relay's last reply (250 … when sent)
    created_at  REAL NOT NULL,
    sent_at     REAL,
    bounced_at  REAL,
    bounce      TEXT                      -- what the bounce said
);
CREATE INDEX email_sends_due ON email_sends(next_try_at) WHERE state = 'queued';

-- Addresses that asked for no more e-mail (the List-Unsubscribe link, RFC 8058): the e-mail
-- step skips them.
CREATE TABLE email_dnc (
    address     TEXT PRIMARY KEY COLLATE NOCASE,
    campaign_id INTEGER REFERENCES campaigns(id) ON DELETE SET NULL,  -- whose message it came from
    added_at    REAL NOT NULL,
    source      TEXT NOT NULL
);
