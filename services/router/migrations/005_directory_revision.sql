-- What the seed files last said about each service's status, so that a reload
-- can tell a seed that changes the status (it wins) from one that merely
-- repeats it (the live status, as the service itself reported it, is kept).
-- Every seed so far has left the status at its default: accepting, capacity
-- not reported; a status last written by a seed is what that seed said.
ALTER TABLE directory_services
    ADD COLUMN seeded_accepting boolean NOT NULL DEFAULT true,
    ADD COLUMN seeded_capacity integer CHECK (seeded_capacity >= 0);
UPDATE directory_services SET seeded_accepting = accepting, seeded_capacity = capacity
    WHERE status_updated_by LIKE 'seed %';

-- One number that moves with every committed change to the directory, read by
-- the router once per batch. A counter bumped inside the changing transaction
-- becomes visible only when that transaction commits, and writers queue on its
-- row; a max(timestamp) could be overtaken by a later commit taken earlier, or
-- by another machine's clock, and the change never noticed. Triggers, so that
-- a hand-made SQL fix is noticed too. Writers in code lock the counter row
-- first (directory_store), so a load and a status update cannot deadlock.
CREATE TABLE directory_revision (
    only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    revision bigint NOT NULL
);
INSERT INTO directory_revision (revision) VALUES (0);

-- The schema is pinned so that a fix made from psql under another search_path still finds the counter.
CREATE FUNCTION directory_bump_revision() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
    UPDATE directory_revision SET revision = revision + 1;
    RETURN NULL;
END
$$;

CREATE TRIGGER directory_services_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON directory_services
    FOR EACH STATEMENT EXECUTE FUNCTION directory_bump_revision();
CREATE TRIGGER directory_networks_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON directory_networks
    FOR EACH STATEMENT EXECUTE FUNCTION directory_bump_revision();
CREATE TRIGGER directory_organisations_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON directory_organisations
    FOR EACH STATEMENT EXECUTE FUNCTION directory_bump_revision();
CREATE TRIGGER directory_loads_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON directory_loads
    FOR EACH STATEMENT EXECUTE FUNCTION directory_bump_revision();
