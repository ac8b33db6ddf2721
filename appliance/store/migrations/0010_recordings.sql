-- dialbox schema v10: call recordings (SPEC O9, issue #24).

-- One row per recording the box made or tried to make: 'complete' (the file is there, its
-- SHA-256 in `sha256`), 'failed' (the call went on without it — the disk was full, the
-- directory unwritable — `error` says why) or 'deleted' (by retention or over the API; the row
-- stays, so the attempt keeps the record of its recording). `attempt_id` is not a foreign key:
-- a recording, the evidence of a call, is not removed with the attempts of a deleted campaign
-- (retention deletes it in its time). `path` is relative to the recordings directory.
-- `frames_lost`: 20 ms frames of the call the file does not hold (a slow disk, a listener that
-- fell behind), written as silence so the two sides and the timeline stay aligned.
CREATE TABLE recordings (
    id          INTEGER PRIMARY KEY,
    attempt_id  INTEGER NOT NULL,
    campaign    TEXT NOT NULL,
    line        TEXT NOT NULL,
    number      TEXT NOT NULL,
    agent       TEXT,
    direction   TEXT NOT NULL CHECK (direction IN ('outbound', 'inbound')),
    started_at  REAL NOT NULL,
    duration    REAL NOT NULL DEFAULT 0,   -- seconds of audio (frames × 20 ms)
    path        TEXT,                      -- yyyy/mm/dd/<attempt>-<line>.<ext>; NULL if none was made
    format      TEXT NOT NULL CHECK (format IN ('flac', 'opus', 'wav')),
    bytes       INTEGER NOT NULL DEFAULT 0,
    sha256      TEXT,
    status      TEXT NOT NULL CHECK (status IN ('complete', 'failed', 'deleted')),
    error       TEXT,
    frames_lost INTEGER NOT NULL DEFAULT 0,
    deleted_at  REAL,
    deleted_why TEXT                       -- age, budget, or the API caller who deleted it
);
CREATE INDEX recordings_attempt ON recordings(attempt_id);
CREATE INDEX recordings_started ON recordings(status, started_at);
CREATE INDEX recordings_agent ON recordings(agent, id);
CREATE INDEX recordings_campaign ON recordings(campaign, id);
