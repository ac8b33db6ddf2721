-- dialbox schema v11 on PostgreSQL (migrations/0011_supervisor_tokens.sql says why).
ALTER TABLE tokens DROP CONSTRAINT tokens_scope_check;
ALTER TABLE tokens ADD CONSTRAINT tokens_scope_check
    CHECK (scope IN ('admin', 'crm', 'agent', 'supervisor'));
ALTER TABLE tokens ADD COLUMN expires_at double precision;
ALTER TABLE tokens ADD COLUMN agent text;
