-- dialbox schema v14: contacts by campaign and state, maintained in the transactions that
-- change them (#28). `GET /status`, `GET /campaigns` and `/metrics` read this table instead of
-- counting a campaign's contacts per request. Triggers keep it, so every writer is covered
-- without knowing of it: imports (both the direct and the staged publish), dispositions,
-- leases and completions, external-list sync, e-mail, deletions (a campaign's delete cascades
-- to its contacts, and the cascade fires these triggers), the dangling sweep and crash
-- recovery (a transaction rolled back or cut short by a crash takes its counts with it).
-- `dialbox doctor` compares it with a full recount (store/counts.py).
--
-- An import's rows (import_id set; only store/imports.py writes it) skip the insert trigger:
-- the import adds the rows it inserted in one statement per batch (counts.add_imported), in
-- the same transaction; its bulk path and publish chunks also drop the trigger for their
-- transaction (store/imports.py COUNTS_TRIGGER says why).

CREATE TABLE campaign_counts (
    campaign_id INTEGER NOT NULL,
    state       TEXT NOT NULL,
    n           INTEGER NOT NULL,
    PRIMARY KEY (campaign_id, state)
) WITHOUT ROWID;

INSERT INTO campaign_counts(campaign_id, state, n)
    SELECT campaign_id, state, count(*) FROM contacts GROUP BY campaign_id, state;

CREATE TRIGGER campaign_counts_insert AFTER INSERT ON contacts WHEN new.import_id IS NULL
BEGIN
    INSERT INTO campaign_counts(campaign_id, state, n) VALUES (new.campaign_id, new.state, 1)
        ON CONFLICT(campaign_id, state) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER campaign_counts_delete AFTER DELETE ON contacts
BEGIN
    UPDATE campaign_counts SET n = n - 1
        WHERE campaign_id = old.campaign_id AND state = old.state;
END;

CREATE TRIGGER campaign_counts_update AFTER UPDATE OF state, campaign_id ON contacts
    WHEN new.state IS NOT old.state OR new.campaign_id IS NOT old.campaign_id
BEGIN
    UPDATE campaign_counts SET n = n - 1
        WHERE campaign_id = old.campaign_id AND state = old.state;
    INSERT INTO campaign_counts(campaign_id, state, n) VALUES (new.campaign_id, new.state, 1)
        ON CONFLICT(campaign_id, state) DO UPDATE SET n = n + 1;
END;

-- A deleted campaign's rows go with it (its contacts' cascade brought them to 0 already).
CREATE TRIGGER campaign_counts_campaign_delete AFTER DELETE ON campaigns
BEGIN
    DELETE FROM campaign_counts WHERE campaign_id = old.id;
END;

-- The abandon ledger (SPEC C13) by campaign and hour the calls were queued in, kept by
-- triggers on attempts as the contacts' counts are: a call counts when the box made it by voice
-- and a person (or a machine taken for one) answered, i.e. answered with an outcome that is no
-- machine, fax or modem (store.selection.NOT_LIVE: 5, 6, 7), or it was abandoned (15). A
-- rolling window is then the whole hours after its start read from here, plus the calls of
-- its first, partial hour read from attempts_campaign_time (store.selection.abandon_counts):
-- exact, and a few hundred rows at most whatever the number of attempts.
CREATE TABLE abandon_ledger (
    campaign_id INTEGER NOT NULL,
    hour        INTEGER NOT NULL,         -- CAST(queued_at / 3600.0 AS INTEGER)
    answered    INTEGER NOT NULL,
    abandoned   INTEGER NOT NULL,
    PRIMARY KEY (campaign_id, hour)
) WITHOUT ROWID;

INSERT INTO abandon_ledger(campaign_id, hour, answered, abandoned)
    SELECT campaign_id, CAST(queued_at / 3600.0 AS INTEGER), count(*), sum(outcome IS 15)
    FROM attempts
    WHERE channel = 'voice' AND direction = 'out'
      AND ((answered_at IS NOT NULL AND coalesce(outcome, -1) NOT IN (5, 6, 7)) OR outcome = 15)
    GROUP BY 1, 2;

CREATE TRIGGER abandon_ledger_insert AFTER INSERT ON attempts
    WHEN new.channel = 'voice' AND new.direction = 'out'
      AND ((new.answered_at IS NOT NULL AND coalesce(new.outcome, -1) NOT IN (5, 6, 7))
           OR new.outcome = 15)
BEGIN
    INSERT INTO abandon_ledger(campaign_id, hour, answered, abandoned)
        VALUES (new.campaign_id, CAST(new.queued_at / 3600.0 AS INTEGER), 1, new.outcome IS 15)
        ON CONFLICT(campaign_id, hour) DO UPDATE
        SET answered = answered + 1, abandoned = abandoned + excluded.abandoned;
END;

CREATE TRIGGER abandon_ledger_delete AFTER DELETE ON attempts
    WHEN old.channel = 'voice' AND old.direction = 'out'
      AND ((old.answered_at IS NOT NULL AND coalesce(old.outcome, -1) NOT IN (5, 6, 7))
           OR old.outcome = 15)
BEGIN
    UPDATE abandon_ledger SET answered = answered - 1, abandoned = abandoned - (old.outcome IS 15)
        WHERE campaign_id = old.campaign_id AND hour = CAST(old.queued_at / 3600.0 AS INTEGER);
END;

-- An update (the call answered, its outcome written) takes the old row's part out and puts
-- the new one's in; two triggers, as each has its own condition.
CREATE TRIGGER abandon_ledger_update_old
    AFTER UPDATE OF campaign_id, queued_at, channel, direction, answered_at, outcome ON attempts
    WHEN old.channel = 'voice' AND old.direction = 'out'
      AND ((old.answered_at IS NOT NULL AND coalesce(old.outcome, -1) NOT IN (5, 6, 7))
           OR old.outcome = 15)
BEGIN
    UPDATE abandon_ledger SET answered = answered - 1, abandoned = abandoned - (old.outcome IS 15)
        WHERE campaign_id = old.campaign_id AND hour = CAST(old.queued_at / 3600.0 AS INTEGER);
END;

CREATE TRIGGER abandon_ledger_update_new
    AFTER UPDATE OF campaign_id, queued_at, channel, direction, answered_at, outcome ON attempts
    WHEN new.channel = 'voice' AND new.direction = 'out'
      AND ((new.answered_at IS NOT NULL AND coalesce(new.outcome, -1) NOT IN (5, 6, 7))
           OR new.outcome = 15)
BEGIN
    INSERT INTO abandon_ledger(campaign_id, hour, answered, abandoned)
        VALUES (new.campaign_id, CAST(new.queued_at / 3600.0 AS INTEGER), 1, new.outcome IS 15)
        ON CONFLICT(campaign_id, hour) DO UPDATE
        SET answered = answered + 1, abandoned = abandoned + excluded.abandoned;
END;

CREATE TRIGGER abandon_ledger_campaign_delete AFTER DELETE ON campaigns
BEGIN
    DELETE FROM abandon_ledger WHERE campaign_id = old.id;
END;

-- The last hour's outcomes (/status) read the attempts ended since then, not all of them.
CREATE INDEX attempts_ended ON attempts(ended_at) WHERE ended_at IS NOT NULL;
