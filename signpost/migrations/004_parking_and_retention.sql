-- A row the relay could not send (an error of the row, not of the broker) is
-- parked with the reason instead of stopping the relay: it is kept, visible in
-- /readyz, and no longer comes first. Setting parked_at back to NULL retries it.
ALTER TABLE outbox ADD COLUMN IF NOT EXISTS parked_at timestamptz, ADD COLUMN IF NOT EXISTS parked_reason text;
DROP INDEX IF EXISTS outbox_unpublished;
CREATE INDEX IF NOT EXISTS outbox_unpublished ON outbox (id) WHERE published_at IS NULL AND parked_at IS NULL;

-- Retention (signpost/retention.py): published rows and inbox ids go after their window.
CREATE INDEX IF NOT EXISTS outbox_published_at ON outbox (published_at) WHERE published_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS processed_events_processed_at ON processed_events (processed_at);

-- A refused record too large to travel inside its dead letter is kept here, in
-- the schema of the consumer that refused it; the dead letter carries its
-- sha256 and size instead (signpost/dead_letter_bodies.py).
CREATE TABLE IF NOT EXISTS dead_letter_bodies (
    dead_letter_id uuid PRIMARY KEY,
    original_topic text NOT NULL,
    original_partition integer NOT NULL,
    original_offset bigint NOT NULL,
    sha256 text NOT NULL,
    size integer NOT NULL,
    body bytea NOT NULL,
    headers jsonb NOT NULL,
    kept_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS dead_letter_bodies_kept_at ON dead_letter_bodies (kept_at);
