-- dialbox schema v7: scheduled campaign actions (SPEC C2) and the hot folder's timed runs.
--
-- A scheduled action is a one-off (`days` NULL, `at_text` an ISO 8601 instant) or a time of day
-- on some weekdays (`at_text` HH:MM, `days` 'daily', 'mon-fri'…) in `timezone`, fixed when it is
-- added. `next_due_at` is the next occurrence not yet applied (NULL: a one-off that is done);
-- the daemon applies every row whose `next_due_at` has come and moves it on in the same
-- transaction as the campaign's new status, so a restart never applies an occurrence twice.
-- `last_due_at` is the occurrence last applied, `last_applied_at` when the box applied it (later
-- than `last_due_at` after a catch-up), `last_result` what it did in words.
-- Rows from the config file (`source` 'config') are kept in step with it by `config_key`.
CREATE TABLE scheduled_actions (
    id              INTEGER PRIMARY KEY,
    campaign_id     INTEGER NOT NULL REFERENCES campaigns(id) ON DELETE CASCADE,
    action          TEXT NOT NULL CHECK (action IN ('start', 'pause', 'resume', 'stop')),
    at_text         TEXT NOT NULL,
    days            TEXT,
    timezone        TEXT NOT NULL,
    source          TEXT NOT NULL CHECK (source IN ('api', 'cli', 'config')),
    config_key      TEXT,
    created_at      REAL NOT NULL,
    created_by      TEXT NOT NULL,
    next_due_at     REAL,
    last_due_at     REAL,
    last_applied_at REAL,
    last_result     TEXT
);
CREATE INDEX scheduled_actions_due ON scheduled_actions(next_due_at)
    WHERE next_due_at IS NOT NULL;
CREATE INDEX scheduled_actions_campaign ON scheduled_actions(campaign_id);
CREATE UNIQUE INDEX scheduled_actions_config ON scheduled_actions(campaign_id, config_key)
    WHERE config_key IS NOT NULL;

-- The last scheduled run of something that runs at set times (the hot folder's timed imports:
-- `name` 'hot-folder:<path>'), so a run missed while the box was down happens when it is back.
CREATE TABLE timed_runs (
    name        TEXT PRIMARY KEY,
    last_due_at REAL NOT NULL
);
