-- Transactional outbox: events are written in the same transaction as the
-- state change that caused them, then relayed to Kafka.
CREATE TABLE IF NOT EXISTS outbox (
    id bigserial PRIMARY KEY,
    event_id uuid NOT NULL UNIQUE,
    topic text NOT NULL,
    key bytea,
    payload bytea NOT NULL,
    headers jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz
);
CREATE INDEX IF NOT EXISTS outbox_unpublished ON outbox (id) WHERE published_at IS NULL;

-- Inbox: ids of events this service has already handled, written in the
-- same transaction as the handling, so redelivery has no second effect.
CREATE TABLE IF NOT EXISTS processed_events (
    event_id uuid PRIMARY KEY,
    topic text NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now()
);
