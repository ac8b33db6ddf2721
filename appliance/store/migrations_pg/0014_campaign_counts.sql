-- dialbox schema v14 on PostgreSQL: contacts by campaign and state, and the abandon ledger by
-- campaign and hour, kept by triggers (PL/pgSQL) as migrations/0014_campaign_counts.sql keeps
-- them on SQLite (its comments say why and what counts). An import's rows (import_id set)
-- skip the insert trigger: the import adds them itself (store.counts.add_imported). The hour
-- is floor(queued_at / 3600), what SQLite's CAST(… AS INTEGER) gives for times after 1970.

CREATE TABLE campaign_counts (
    campaign_id bigint NOT NULL,
    state       text NOT NULL,
    n           bigint NOT NULL,
    PRIMARY KEY (campaign_id, state)
);

INSERT INTO campaign_counts(campaign_id, state, n)
    SELECT campaign_id, state, count(*) FROM contacts GROUP BY campaign_id, state;

CREATE FUNCTION campaign_counts_add(cid bigint, st text, delta bigint) RETURNS void
    LANGUAGE sql AS $$
    INSERT INTO campaign_counts(campaign_id, state, n) VALUES (cid, st, delta)
        ON CONFLICT (campaign_id, state) DO UPDATE SET n = campaign_counts.n + excluded.n;
$$;

CREATE FUNCTION campaign_counts_keep() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        UPDATE campaign_counts SET n = n - 1
            WHERE campaign_id = OLD.campaign_id AND state = OLD.state;
    END IF;
    IF TG_OP IN ('UPDATE', 'INSERT') THEN
        PERFORM campaign_counts_add(NEW.campaign_id, NEW.state, 1);
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER campaign_counts_insert AFTER INSERT ON contacts
    FOR EACH ROW WHEN (NEW.import_id IS NULL) EXECUTE FUNCTION campaign_counts_keep();
CREATE TRIGGER campaign_counts_delete AFTER DELETE ON contacts
    FOR EACH ROW EXECUTE FUNCTION campaign_counts_keep();
CREATE TRIGGER campaign_counts_update AFTER UPDATE OF state, campaign_id ON contacts
    FOR EACH ROW WHEN (NEW.state IS DISTINCT FROM OLD.state
                       OR NEW.campaign_id IS DISTINCT FROM OLD.campaign_id)
    EXECUTE FUNCTION campaign_counts_keep();

CREATE FUNCTION campaign_counts_campaign_gone() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM campaign_counts WHERE campaign_id = OLD.id;
    DELETE FROM abandon_ledger WHERE campaign_id = OLD.id;
    RETURN NULL;
END $$;

CREATE TABLE abandon_ledger (
    campaign_id bigint NOT NULL,
    hour        bigint NOT NULL,
    answered    bigint NOT NULL,
    abandoned   bigint NOT NULL,
    PRIMARY KEY (campaign_id, hour)
);

-- Whether an attempt counts in the ledger (store.selection._LEDGER_CALLS says the same).
CREATE FUNCTION abandon_ledger_counts(a attempts) RETURNS boolean
    LANGUAGE sql IMMUTABLE AS $$
    SELECT a.channel = 'voice' AND a.direction = 'out'
       AND ((a.answered_at IS NOT NULL AND coalesce(a.outcome, -1) NOT IN (5, 6, 7))
            OR coalesce(a.outcome = 15, false));
$$;

INSERT INTO abandon_ledger(campaign_id, hour, answered, abandoned)
    SELECT campaign_id, floor(queued_at / 3600.0)::bigint, count(*),
           count(*) FILTER (WHERE outcome = 15)
    FROM attempts a WHERE abandon_ledger_counts(a)
    GROUP BY 1, 2;

CREATE FUNCTION abandon_ledger_keep() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') AND abandon_ledger_counts(OLD) THEN
        UPDATE abandon_ledger SET answered = answered - 1,
               abandoned = abandoned - (coalesce(OLD.outcome = 15, false))::int
            WHERE campaign_id = OLD.campaign_id AND hour = floor(OLD.queued_at / 3600.0)::bigint;
    END IF;
    IF TG_OP IN ('UPDATE', 'INSERT') AND abandon_ledger_counts(NEW) THEN
        INSERT INTO abandon_ledger(campaign_id, hour, answered, abandoned)
            VALUES (NEW.campaign_id, floor(NEW.queued_at / 3600.0)::bigint, 1,
                    (coalesce(NEW.outcome = 15, false))::int)
            ON CONFLICT (campaign_id, hour) DO UPDATE
            SET answered = abandon_ledger.answered + 1,
                abandoned = abandon_ledger.abandoned + excluded.abandoned;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER abandon_ledger_insert AFTER INSERT ON attempts
    FOR EACH ROW EXECUTE FUNCTION abandon_ledger_keep();
CREATE TRIGGER abandon_ledger_delete AFTER DELETE ON attempts
    FOR EACH ROW EXECUTE FUNCTION abandon_ledger_keep();
CREATE TRIGGER abandon_ledger_update
    AFTER UPDATE OF campaign_id, queued_at, channel, direction, answered_at, outcome ON attempts
    FOR EACH ROW EXECUTE FUNCTION abandon_ledger_keep();

CREATE TRIGGER campaign_counts_campaign_delete AFTER DELETE ON campaigns
    FOR EACH ROW EXECUTE FUNCTION campaign_counts_campaign_gone();

CREATE INDEX attempts_ended ON attempts(ended_at) WHERE ended_at IS NOT NULL;

-- Rows inserted with their id given (a restore, a test's fixture, zone sets from a staged
-- import) move the table's identity past them, as SQLite's rowid would follow: the next row
-- without an id then never collides. One look at the primary key's end per statement.
CREATE FUNCTION dialbox_identity_follow() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    seq regclass := pg_get_serial_sequence(quote_ident(TG_TABLE_NAME), 'id')::regclass;
    top bigint;
BEGIN
    EXECUTE format('SELECT max(id) FROM %I', TG_TABLE_NAME) INTO top;
    IF top > coalesce(pg_sequence_last_value(seq), 0) THEN
        PERFORM setval(seq, top);
    END IF;
    RETURN NULL;
END $$;

DO $$
DECLARE t text;
BEGIN
    FOR t IN SELECT c.table_name FROM information_schema.columns c
             WHERE c.table_schema = current_schema() AND c.column_name = 'id'
               AND c.is_identity = 'YES'
    LOOP
        EXECUTE format('CREATE TRIGGER %I AFTER INSERT ON %I FOR EACH STATEMENT'
                       ' EXECUTE FUNCTION dialbox_identity_follow()', t || '_identity_follow', t);
    END LOOP;
END $$;
