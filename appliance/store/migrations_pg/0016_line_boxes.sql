-- dialbox schema v16: each box's lines apart (#27). Two boxes on one store may both have a line
-- named gsm0; keyed by name alone, each box's start dropped the other's rows as "no longer in the
-- config" and each state change overwrote the other's. A line is now (box, name). Rows recorded
-- before v16 were the one box's and carry box '': the daemon replaces them with its own at start.
ALTER TABLE lines ADD COLUMN box text NOT NULL DEFAULT '';
ALTER TABLE lines DROP CONSTRAINT lines_name_key;
ALTER TABLE lines ADD CONSTRAINT lines_box_name_key UNIQUE (box, name);
