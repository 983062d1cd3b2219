-- A family's employer over time (found in review: an 834 from a new employer updates
-- family.employer_id, and billing derived the sponsor of an employer-billed claim from the
-- family's CURRENT employer, so the family's earlier claims, their reversals and whatever was
-- not yet invoiced went to the new employer). Each change keeps the employer it replaced and
-- when; a claim is billed to the employer the family had when the claim was written: the one
-- a later change replaced, else today's. History is never updated (append-only).
CREATE TABLE family_employer_change (
    family_id          text NOT NULL REFERENCES family (family_id),
    changed_at         timestamptz NOT NULL DEFAULT clock_timestamp(),
    employer_before    text,
    employer_after     text,
    PRIMARY KEY (family_id, changed_at)
);

CREATE FUNCTION rx_keep_employer_change() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
BEGIN
    INSERT INTO family_employer_change (family_id, employer_before, employer_after)
    VALUES (NEW.family_id, OLD.employer_id, NEW.employer_id);
    RETURN NEW;
END $$;

CREATE TRIGGER family_employer_changed AFTER UPDATE OF employer_id ON family
    FOR EACH ROW WHEN (OLD.employer_id IS DISTINCT FROM NEW.employer_id)
    EXECUTE FUNCTION rx_keep_employer_change();

CREATE TRIGGER family_employer_change_append_only BEFORE UPDATE OR DELETE
    ON family_employer_change FOR EACH ROW EXECUTE FUNCTION rx_refuse_history_change();
CREATE TRIGGER family_employer_change_no_truncate BEFORE TRUNCATE
    ON family_employer_change FOR EACH STATEMENT EXECUTE FUNCTION rx_refuse_history_change();

-- The employer a claim written at p_written is billed to.
CREATE FUNCTION rx_employer_at(p_family_id text, p_written timestamptz, p_now text)
RETURNS text LANGUAGE sql STABLE AS $$
    SELECT coalesce(
        (SELECT ch.employer_before FROM family_employer_change ch
          WHERE ch.family_id = p_family_id AND ch.changed_at > p_written
          ORDER BY ch.changed_at LIMIT 1),
        p_now)
$$;

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'rx_gateway_admin') THEN
        GRANT SELECT ON family_employer_change TO rx_gateway_admin;
        GRANT EXECUTE ON FUNCTION rx_employer_at(text, timestamptz, text) TO rx_gateway_admin;
    END IF;
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'rx_gateway_app') THEN
        GRANT SELECT ON family_employer_change TO rx_gateway_app;
        GRANT EXECUTE ON FUNCTION rx_employer_at(text, timestamptz, text) TO rx_gateway_app;
    END IF;
END $$;
