-- dialbox schema: the agents' state changes as a ledger, for the reports (SPEC O7).
--
-- `agents.state` holds only the state now; a report of logged-in, talk, wrap-up and paused time
-- over a period needs when each state began. store.agents.save_state appends one row per change
-- (login, ready, reserved, talking, wrap_up, paused, logged_out), in the transaction that writes
-- the state itself; a state lasts until the agent's next row. Never updated, pruned by no one
-- (a few rows per call: a year of a busy box is some millions of small rows).
CREATE TABLE agent_states (
    id      INTEGER PRIMARY KEY,
    agent   TEXT NOT NULL,
    state   TEXT NOT NULL,
    at      REAL NOT NULL,
    reason  TEXT
);
-- An agent's state at the start of a period (the last row before it), and its rows within.
CREATE INDEX agent_states_agent ON agent_states(agent, at);
-- The agents with a row within a period.
CREATE INDEX agent_states_at ON agent_states(at);
