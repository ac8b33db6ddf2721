-- dialbox schema v11: supervisor tokens and desk sessions (#25, SPEC A6).
--
-- `tokens` is remade (SQLite cannot change a CHECK): scope may also be 'supervisor' (the agents'
-- floor: every agent, pop-up messages, login codes, listening in); `expires_at` is when a token
-- stops working (NULL: never; a desk session opened with a login code lasts 12 hours); `agent`
-- is the agent a desk session acts for (NULL: the token acts as its own name). A desk session's
-- name is `desk:<agent>:<random>`, which no token made by `dialbox token create` can have (the
-- name rule has no ':'), so it never collides with a long-lived token named after the agent.
CREATE TABLE tokens_v11 (
    id           INTEGER PRIMARY KEY,
    name         TEXT NOT NULL UNIQUE,
    scope        TEXT NOT NULL CHECK (scope IN ('admin', 'crm', 'agent', 'supervisor')),
    hash         TEXT NOT NULL UNIQUE,
    created_at   REAL NOT NULL,
    revoked_at   REAL,
    last_used_at REAL,
    expires_at   REAL,
    agent        TEXT
);
INSERT INTO tokens_v11(id, name, scope, hash, created_at, revoked_at, last_used_at)
    SELECT id, name, scope, hash, created_at, revoked_at, last_used_at FROM tokens;
DROP TABLE tokens;
ALTER TABLE tokens_v11 RENAME TO tokens;
