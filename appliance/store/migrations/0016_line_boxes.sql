-- dialbox schema v16: each box's lines apart (#27). Two boxes on one store may both have a line
-- named gsm0; keyed by name alone, each box's start dropped the other's rows as "no longer in the
-- config" and each state change overwrote the other's. A line is now (box, name). Rows recorded
-- before v16 were the one box's and carry box '': the daemon replaces them with its own at start.
-- SQLite cannot change a UNIQUE constraint in place: the table is made again, ids kept.
CREATE TABLE lines_v16 (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL,
    kind        TEXT NOT NULL,
    device      TEXT NOT NULL,
    enabled     INTEGER NOT NULL DEFAULT 1,
    state       TEXT NOT NULL DEFAULT 'down',
    info        TEXT NOT NULL DEFAULT '{}',  -- JSON: model, IMEI, operator, signal...
    updated_at  REAL NOT NULL,
    box         TEXT NOT NULL DEFAULT '',  -- the box (config `box.id`) whose line it is
    UNIQUE (box, name)
);
INSERT INTO lines_v16(id, name, kind, device, enabled, state, info, updated_at)
    SELECT id, name, kind, device, enabled, state, info, updated_at FROM lines;
DROP TABLE lines;
ALTER TABLE lines_v16 RENAME TO lines;
