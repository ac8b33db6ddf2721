-- dialbox schema v15: several boxes (daemons) on one store (#27). Each box registers itself in
-- `boxes` and heartbeats; each attempt it leases names it (`box`), carries a lease expiry the
-- heartbeat renews (`lease_expires`) and the contact's lease generation (`lease_gen`), so a box
-- that comes back after the others swept its attempts (its heartbeat stopped for longer than
-- `box.sweep_after_seconds`) can never complete an attempt someone else now owns: the
-- completion checks the generation and the box (store/attempts.py complete, store/boxes.py).
-- A single box is unchanged: its attempts name it, nobody else sweeps them.

CREATE TABLE boxes (
    id            TEXT PRIMARY KEY,       -- config `box.id`: [a-z0-9-]{1,32}, default the host name
    version       TEXT NOT NULL,          -- the dialbox version it runs
    lines         TEXT NOT NULL DEFAULT '[]',  -- JSON: [{name, up, busy}] as of its heartbeat
    started_at    REAL NOT NULL,
    heartbeat_at  REAL NOT NULL,
    state         TEXT NOT NULL DEFAULT 'up'
                  CHECK (state IN ('up', 'stopped', 'swept')),  -- its liveness
    draining      INTEGER NOT NULL DEFAULT 0 CHECK (draining IN (0, 1)),  -- no new leases
    swept_at      REAL,                   -- when another box swept its attempts
    swept_by      TEXT,
    instance      TEXT                    -- host:pid of the daemon that registered it last
);

ALTER TABLE attempts ADD COLUMN box TEXT;
ALTER TABLE attempts ADD COLUMN lease_expires REAL;
ALTER TABLE attempts ADD COLUMN lease_gen INTEGER NOT NULL DEFAULT 0;
ALTER TABLE contacts ADD COLUMN lease_gen INTEGER NOT NULL DEFAULT 0;

-- The sweep of a dead box reads its attempts in flight.
CREATE INDEX attempts_box_in_flight ON attempts(box) WHERE status = 'in_flight';
