-- dialbox schema v6: imports staged outside the contacts table and published in short chunks
-- (store/importer.py, docs/architecture.md "The import path").
--
-- status: 'staging' while the file is read and checked into its own staging database (nothing
-- of it is in contacts; a crash here is cleaned up at the next open), 'publishing' once it is
-- checked whole (the commit point: from here the import is owed, and the next open rolls it
-- forward from `published`, the staged rows already moved), 'done' when every row is in.
-- Imports made in one transaction (the CLI, the record feed) are 'done' when they commit.
ALTER TABLE imports ADD COLUMN status TEXT NOT NULL DEFAULT 'done'
    CHECK (status IN ('staging', 'publishing', 'done'));
ALTER TABLE imports ADD COLUMN published INTEGER NOT NULL DEFAULT 0;
CREATE INDEX imports_unfinished ON imports(status) WHERE status <> 'done';
