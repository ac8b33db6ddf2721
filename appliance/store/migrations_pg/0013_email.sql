-- dialbox schema v13 on PostgreSQL (migrations/0013_email.sql says why). The CHECK changes in
-- place; no table is remade.
ALTER TABLE attempts DROP CONSTRAINT attempts_channel_check;
ALTER TABLE attempts ADD CONSTRAINT attempts_channel_check
    CHECK (channel IN ('voice', 'sms', 'email'));

CREATE TABLE email_sends (
    attempt_id  bigint PRIMARY KEY REFERENCES attempts(id) ON DELETE CASCADE,
    campaign_id bigint NOT NULL REFERENCES campaigns(id) ON DELETE CASCADE,
    contact_id  bigint NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
    address     text NOT NULL,
    message_id  text NOT NULL UNIQUE,
    message     bytea NOT NULL,
    state       text NOT NULL DEFAULT 'queued'
                CHECK (state IN ('queued', 'claimed', 'sent', 'failed')),
    tries       bigint NOT NULL DEFAULT 0,
    next_try_at double precision NOT NULL,
    reply       text,
    created_at  double precision NOT NULL,
    sent_at     double precision,
    bounced_at  double precision,
    bounce      text
);
CREATE INDEX email_sends_due ON email_sends(next_try_at) WHERE state = 'queued';

CREATE TABLE email_dnc (
    address     text COLLATE nocase PRIMARY KEY,
    campaign_id bigint REFERENCES campaigns(id) ON DELETE SET NULL,
    added_at    double precision NOT NULL,
    source      text NOT NULL
);
