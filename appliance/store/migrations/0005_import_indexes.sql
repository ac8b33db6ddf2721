-- dialbox schema v5: indexes an import does not have to feed.

-- Due redials and callbacks: only contacts with a due time are ever looked up here (the
-- redials query compares the due time, which implies it is not NULL), so contacts never
-- dialed and without a callback — every freshly imported one — stay out of this index and
-- cost an import nothing to maintain (bench/import_csv.py).
DROP INDEX contacts_due;
CREATE INDEX contacts_due ON contacts(campaign_id, coalesce(next_at, callback_at))
    WHERE coalesce(next_at, callback_at) IS NOT NULL;

-- New contacts by priority: one index for both orders. FIFO reads it forward; LIFO reads each
-- priority level backward (store/selection.py), so the mirror-image index goes.
DROP INDEX contacts_new_lifo;
DROP INDEX contacts_new_fifo;
CREATE INDEX contacts_new ON contacts(campaign_id, priority DESC, id)
    WHERE state = 'Pending' AND next_at IS NULL AND callback_at IS NULL;

-- Contacts by state: most are Pending, and every imported one is, so this index holds the
-- others; store.campaigns.contacts_by_state counts Pending as all minus those (both counts read
-- indexes only). An import then feeds neither this nor contacts_due.
DROP INDEX contacts_state;
CREATE INDEX contacts_state ON contacts(campaign_id, state) WHERE state <> 'Pending';
