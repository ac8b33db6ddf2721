-- dialbox schema v4 on PostgreSQL (migrations/0004_agents.sql says why).
ALTER TABLE agents ADD COLUMN seat text;
ALTER TABLE agents ADD COLUMN campaigns text NOT NULL DEFAULT '[]';
ALTER TABLE agents ADD COLUMN reason text;
CREATE INDEX contacts_owner ON contacts(campaign_id, owner_agent) WHERE owner_agent IS NOT NULL;
