-- dialbox schema v2: indexes for the scheduler's candidate queries (SPEC C5) and for the attempt
-- look-ups its limits, lockouts and abandon ledger make (C6, C13). No new tables: per-number
-- counts and lockouts are read from `attempts` (indexed by number and time), so they can never
-- drift from the record of what was dialed.

-- Due redials and callbacks, oldest first: the redial time is next_at, or for a contact never
-- dialed its callback time.
CREATE INDEX contacts_due ON contacts(campaign_id, coalesce(next_at, callback_at));

-- New contacts by priority, then first-in-first-out or last-in-first-out.
CREATE INDEX contacts_new_fifo ON contacts(campaign_id, priority DESC, id)
    WHERE state = 'Pending' AND next_at IS NULL AND callback_at IS NULL;
CREATE INDEX contacts_new_lifo ON contacts(campaign_id, priority DESC, id DESC)
    WHERE state = 'Pending' AND next_at IS NULL AND callback_at IS NULL;

-- The distinct timezone overrides, judged once each per minute.
CREATE INDEX contacts_tz_override ON contacts(campaign_id, tz_override) WHERE tz_override IS NOT NULL;

-- The abandon ledger: a campaign's answered and abandoned calls in a rolling window.
CREATE INDEX attempts_campaign_time ON attempts(campaign_id, queued_at);
