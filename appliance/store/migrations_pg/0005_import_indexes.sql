-- dialbox schema v5 on PostgreSQL (migrations/0005_import_indexes.sql says why).
DROP INDEX contacts_due;
CREATE INDEX contacts_due ON contacts(campaign_id, coalesce(next_at, callback_at))
    WHERE coalesce(next_at, callback_at) IS NOT NULL;
DROP INDEX contacts_new_lifo;
DROP INDEX contacts_new_fifo;
CREATE INDEX contacts_new ON contacts(campaign_id, priority DESC, id)
    WHERE state = 'Pending' AND next_at IS NULL AND callback_at IS NULL;
DROP INDEX contacts_state;
CREATE INDEX contacts_state ON contacts(campaign_id, state) WHERE state <> 'Pending';
