-- A referrer organisation may hear its feedback by signed webhook (issue 15). Its webhook, pause, breaker and
-- deliveries live in the same tables as an agency's, keyed 'referrer:<ODS code>' where an agency's key is its id:
-- the colon is in no agency id, so the two can never meet. Feedback is on the referrer's Kafka topic as well
-- (audit and any reader of the topic see it), so a feedback delivery has no assignment.delivered to announce.
ALTER TABLE webhook_deliveries ALTER COLUMN delivered_event DROP NOT NULL;
