-- dialbox schema v4: agents at work (SPEC A1, C10).

-- Where an agent is logged in and for which campaigns, so a restart finds them again (paused:
-- after a restart a person confirms being there by going ready). `seat` is a configured seat
-- name; `extension` (v1) stays the agent's usual seat.
ALTER TABLE agents ADD COLUMN seat TEXT;
ALTER TABLE agents ADD COLUMN campaigns TEXT NOT NULL DEFAULT '[]';
ALTER TABLE agents ADD COLUMN reason TEXT;   -- why paused, as the agent or the box said

-- Callbacks owned by an agent ('name') or a group ('@group'), due first.
CREATE INDEX contacts_owner ON contacts(campaign_id, owner_agent) WHERE owner_agent IS NOT NULL;
