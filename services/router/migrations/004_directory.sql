-- The service directory, owned by the router (after Open Referral UK and the
-- NHS Directory of Services): organisations by ODS code, networks (or hubs)
-- with the GP practices they cover, services with their type, opening hours
-- and a live accepting/capacity status. Loaded from versioned YAML seeds by
-- `signpost directory load`; the status is changed over HTTP by the agency
-- itself or by operations staff.
CREATE TABLE directory_organisations (
    ods_code text PRIMARY KEY,
    name text NOT NULL,
    kind text NOT NULL
);

CREATE TABLE directory_networks (
    network_id text PRIMARY KEY,
    name text NOT NULL,
    mode text NOT NULL,                  -- network | coordinator
    practices text[] NOT NULL            -- ODS codes of the GP practices it covers
);
CREATE INDEX directory_networks_practices ON directory_networks USING gin (practices);

CREATE TABLE directory_services (
    service_id text PRIMARY KEY,
    name text NOT NULL,
    service_type text NOT NULL,
    ods_code text NOT NULL REFERENCES directory_organisations,
    agency_id text NOT NULL,
    network_ids text[] NOT NULL,
    hours jsonb NOT NULL,                -- "always" or {mon: ["08:00-18:00"], ...}
    accepting boolean NOT NULL,
    capacity integer CHECK (capacity >= 0),   -- free slots as the service last said; NULL = not reported
    status_updated_at timestamptz NOT NULL,
    status_updated_by text NOT NULL
);

-- Every load, newest last: what was loaded, from where, and its content hash.
CREATE TABLE directory_loads (
    id bigserial PRIMARY KEY,
    area text NOT NULL,
    version text NOT NULL,
    content_version text NOT NULL,
    source text NOT NULL,
    loaded_at timestamptz NOT NULL DEFAULT now()
);
