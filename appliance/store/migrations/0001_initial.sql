-- dialbox schema v1: campaigns, strategies, contacts (D1), imports, attempts (D6), DNC (D7),
-- lines, agents, audit log (O8) and the results outbox (D6 push).
-- Times are UTC seconds since the epoch (REAL); texts users gave are kept beside their E.164 form.

CREATE TABLE strategies (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    definition  TEXT NOT NULL,            -- JSON: ordered attempts and per-outcome actions (C4)
    updated_at  REAL NOT NULL
);

CREATE TABLE campaigns (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE COLLATE NOCASE,
    type        TEXT NOT NULL CHECK (type IN ('agent', 'automated', 'sms')),
    region      TEXT NOT NULL,            -- default region for national numbers (ISO 3166)
    status      TEXT NOT NULL DEFAULT 'stopped' CHECK (status IN ('stopped', 'running', 'paused')),
    strategy_id INTEGER REFERENCES strategies(id),
    filter      TEXT,                     -- D8 expression as the user wrote it
    settings    TEXT NOT NULL DEFAULT '{}', -- JSON of the typed CampaignSettings
    created_at  REAL NOT NULL,
    updated_at  REAL NOT NULL
);

CREATE TABLE imports (
    id          INTEGER PRIMARY KEY,
    campaign_id INTEGER NOT NULL REFERENCES campaigns(id) ON DELETE CASCADE,
    source      TEXT NOT NULL,            -- file name, 'api', 'feed', 'hot-folder:<path>'
    sha256      TEXT,
    started_at  REAL NOT NULL,
    finished_at REAL,
    rows        INTEGER NOT NULL DEFAULT 0,
    imported    INTEGER NOT NULL DEFAULT 0,
    rejected    INTEGER NOT NULL DEFAULT 0,
    duplicates  INTEGER NOT NULL DEFAULT 0,
    dnc         INTEGER NOT NULL DEFAULT 0
);

-- Distinct sets of IANA zones numbers map to (libphonenumber), e.g. 'America/Chicago|America/New_York'.
-- Contacts point at one per phone, so calling hours are judged once per set, not per contact.
CREATE TABLE zone_sets (
    id     INTEGER PRIMARY KEY,
    zones  TEXT NOT NULL UNIQUE          -- sorted, '|'-joined; '' when libphonenumber knows none
);

CREATE TABLE contacts (
    id            INTEGER PRIMARY KEY,
    campaign_id   INTEGER NOT NULL REFERENCES campaigns(id) ON DELETE CASCADE,
    import_id     INTEGER REFERENCES imports(id),
    source_line   INTEGER,                -- line in the imported file (first line of the record)
    dedup_key     INTEGER NOT NULL,       -- 64-bit hash of the normalized record: re-imports add nothing
    external_id   TEXT,
    phone1 TEXT NOT NULL, phone2 TEXT, phone3 TEXT, phone4 TEXT, phone5 TEXT,   -- as given
    e164_1 TEXT NOT NULL, e164_2 TEXT, e164_3 TEXT, e164_4 TEXT, e164_5 TEXT,   -- normalized
    zs1 INTEGER, zs2 INTEGER, zs3 INTEGER, zs4 INTEGER, zs5 INTEGER,  -- zone_sets.id of each number (C3)
    bp1 TEXT, bp2 TEXT, bp3 TEXT, bp4 TEXT, bp5 TEXT, bp6 TEXT,
    bp7 TEXT, bp8 TEXT, bp9 TEXT, bp10 TEXT, bp11 TEXT, bp12 TEXT,
    priority      INTEGER NOT NULL DEFAULT 0,
    tz_override   TEXT,
    callback_at   REAL,
    owner_agent   TEXT,
    state         TEXT NOT NULL DEFAULT 'Pending',   -- C11 request state name
    summary       INTEGER NOT NULL DEFAULT 0,        -- C11 summary: -1, 0, 1, 2, 3
    attempts      INTEGER NOT NULL DEFAULT 0,
    next_at       REAL,                   -- redial/callback due time; NULL for never-dialed
    next_phone    INTEGER,                -- which phone (1..5) the next attempt uses
    step          INTEGER NOT NULL DEFAULT 0,        -- position in the campaign strategy
    last_outcome  INTEGER,
    last_attempt_at REAL,
    lease_id      INTEGER,                -- attempt in flight, while state is 'Sent to Dialer'
    created_at    REAL NOT NULL,
    updated_at    REAL NOT NULL
);
CREATE UNIQUE INDEX contacts_dedup ON contacts(campaign_id, dedup_key);
CREATE INDEX contacts_state ON contacts(campaign_id, state);
CREATE INDEX contacts_external ON contacts(campaign_id, external_id) WHERE external_id IS NOT NULL;

CREATE TABLE attempts (
    id           INTEGER PRIMARY KEY,
    contact_id   INTEGER NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
    campaign_id  INTEGER NOT NULL REFERENCES campaigns(id) ON DELETE CASCADE,
    attempt_no   INTEGER NOT NULL,        -- 1-based per contact
    phone_index  INTEGER,                 -- 1..5
    number       TEXT NOT NULL,           -- E.164 dialed (or SMS destination)
    channel      TEXT NOT NULL CHECK (channel IN ('voice', 'sms')),
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
    UNIQUE (contact_id, attempt_no)
);
CREATE INDEX attempts_campaign ON attempts(campaign_id, id);
CREATE INDEX attempts_number ON attempts(number, queued_at);
CREATE INDEX attempts_in_flight ON attempts(status) WHERE status = 'in_flight';

CREATE TABLE dnc (
    id          INTEGER PRIMARY KEY,
    e164        TEXT NOT NULL,
    campaign_id INTEGER REFERENCES campaigns(id) ON DELETE CASCADE,  -- NULL: the global list
    kind        TEXT NOT NULL DEFAULT 'dnc' CHECK (kind IN ('dnc', 'block')), -- block: permanent (D7)
    reason      TEXT,
    source      TEXT,
    added_at    REAL NOT NULL,
    expires_at  REAL                      -- NULL: never
);
CREATE UNIQUE INDEX dnc_key ON dnc(e164, ifnull(campaign_id, 0), kind);

CREATE TABLE lines (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    kind        TEXT NOT NULL,
    device      TEXT NOT NULL,
    enabled     INTEGER NOT NULL DEFAULT 1,
    state       TEXT NOT NULL DEFAULT 'down',
    info        TEXT NOT NULL DEFAULT '{}',  -- JSON: model, IMEI, operator, signal...
    updated_at  REAL NOT NULL
);

CREATE TABLE agents (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    extension   TEXT,                     -- phone number or FXS port that reaches the agent
    group_name  TEXT,
    skills      TEXT NOT NULL DEFAULT '[]',
    state       TEXT NOT NULL DEFAULT 'logged_out',
    updated_at  REAL NOT NULL
);

CREATE TABLE audit (
    id      INTEGER PRIMARY KEY,
    at      REAL NOT NULL,
    actor   TEXT NOT NULL,                -- 'cli:<user>', 'api:<token name>', 'daemon'
    action  TEXT NOT NULL,
    target  TEXT,
    detail  TEXT                          -- JSON
);
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;

CREATE TABLE outbox (
    id           INTEGER PRIMARY KEY,
    campaign_id  INTEGER NOT NULL,
    contact_id   INTEGER NOT NULL,
    attempt_id   INTEGER NOT NULL,
    payload      TEXT NOT NULL,           -- JSON document POSTed to the campaign's webhook
    created_at   REAL NOT NULL,
    tries        INTEGER NOT NULL DEFAULT 0,
    next_try_at  REAL NOT NULL,
    delivered_at REAL,
    last_error   TEXT
);
CREATE INDEX outbox_pending ON outbox(next_try_at) WHERE delivered_at IS NULL;
