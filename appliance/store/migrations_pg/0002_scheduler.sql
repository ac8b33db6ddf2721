-- dialbox schema v2 on PostgreSQL (migrations/0002_scheduler.sql says why).
CREATE INDEX contacts_due ON contacts(campaign_id, coalesce(next_at, callback_at));
CREATE INDEX contacts_new_fifo ON contacts(campaign_id, priority DESC, id)
    WHERE state = 'Pending' AND next_at IS NULL AND callback_at IS NULL;
CREATE INDEX contacts_new_lifo ON contacts(campaign_id, priority DESC, id DESC)
    WHERE state = 'Pending' AND next_at IS NULL AND callback_at IS NULL;
CREATE INDEX contacts_tz_override ON contacts(campaign_id, tz_override) WHERE tz_override IS NOT NULL;
CREATE INDEX attempts_campaign_time ON attempts(campaign_id, queued_at);
