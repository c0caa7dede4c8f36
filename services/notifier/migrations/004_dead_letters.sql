-- Every dead letter, with the original record's bytes, so operations staff can
-- list them by referral and replay them once the cause is fixed.
CREATE TABLE dead_letters (
    dead_letter_id uuid PRIMARY KEY,         -- the event.dead_lettered event id: stable per source record
    consumer text NOT NULL,
    original_topic text NOT NULL,
    original_partition integer NOT NULL,
    original_offset bigint NOT NULL,
    reason text NOT NULL,
    payload bytea NOT NULL,
    headers jsonb NOT NULL,
    referral_id uuid,                        -- when the original was JSON naming one
    dead_lettered_at timestamptz NOT NULL,
    replayed_at timestamptz,
    replayed_by text,
    replays integer NOT NULL DEFAULT 0
);
CREATE INDEX dead_letters_referral ON dead_letters (referral_id);
CREATE INDEX dead_letters_recent ON dead_letters (dead_lettered_at DESC);
