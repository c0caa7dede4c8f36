-- A status a service reports about itself lapses: a "not accepting" set on a
-- busy Friday must not hide the service for good once nobody remembers it.
-- After this time the router treats the service as accepting again (and its
-- capacity as unknown) until the service reports afresh. NULL: the status came
-- from the seed files, a decision by whoever keeps the directory, and does not
-- lapse. Statuses already reported lapse a day after they were set (the default).
ALTER TABLE directory_services ADD COLUMN status_expires_at timestamptz;
UPDATE directory_services SET status_expires_at = status_updated_at + interval '24 hours'
    WHERE status_updated_by NOT LIKE 'seed %';
