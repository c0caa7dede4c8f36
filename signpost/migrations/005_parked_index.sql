-- /readyz counts parked rows on every probe (signpost/outbox.py PARKED): without an index of its own that count
-- read every row kept for the retention window, a week of outbox rows, each time a probe asked.
CREATE INDEX IF NOT EXISTS outbox_parked ON outbox (id) WHERE published_at IS NULL AND parked_at IS NOT NULL;
