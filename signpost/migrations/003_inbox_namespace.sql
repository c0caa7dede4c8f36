-- The inbox was keyed by event id alone, across every consumer group and topic
-- of the service. Agencies choose the ids of the reports they write, and the
-- services derive later ids (a reroute, an escalation) from ids an agency
-- knows: a report sent ahead under such an id made the service skip the real
-- event when it came. An id is now claimed per consumer group and topic, so a
-- record on an agency's outcomes topic can only ever shadow another record on
-- that same topic, which only that agency writes.
--
-- Rows from before name no consumer group: they keep '' and still count as
-- handled for their topic (consumer.py looks for them), so nothing already
-- handled is handled twice after the upgrade.
ALTER TABLE processed_events ADD COLUMN IF NOT EXISTS consumer text NOT NULL DEFAULT '';
ALTER TABLE processed_events DROP CONSTRAINT IF EXISTS processed_events_pkey;
ALTER TABLE processed_events ADD PRIMARY KEY (consumer, topic, event_id);
ALTER TABLE processed_events ALTER COLUMN consumer DROP DEFAULT;
