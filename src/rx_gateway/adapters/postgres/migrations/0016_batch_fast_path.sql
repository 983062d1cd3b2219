-- rx_post_batch, cheaper when nothing fails (the usual case: a process's claims of one card take
-- turns, so a batch rarely holds two claims of one family). The batch's items first run
-- together in ONE subtransaction; only if one of them fails is that work rolled back and every
-- item run again in a subtransaction of its own, as before (0014), so that the failure stays
-- the failing item's. One savepoint per batch instead of one per claim.
CREATE OR REPLACE FUNCTION rx_post_batch_item(p_kind text, p_family_id text, p jsonb)
RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
BEGIN
    IF p_kind = 'claim' THEN
        RETURN rx_post_claim(p_family_id, p);
    ELSIF p_kind = 'reversal' THEN
        RETURN rx_post_reversal(p_family_id, p);
    ELSIF p_kind = 'audit' THEN
        INSERT INTO audit_log (family_id, actor, action, internal_control_number, outcome, detail)
        VALUES (p_family_id, p->>'actor', p->>'action',
                nullif(p->>'internal_control_number', ''), p->>'outcome', p->'detail');
        RETURN jsonb_build_object('outcome', 'posted');
    END IF;
    RAISE EXCEPTION 'unknown batch item kind %', p_kind USING ERRCODE = 'check_violation';
END $$;

CREATE OR REPLACE FUNCTION rx_post_batch(p_kinds text[], p_families text[], p jsonb[])
RETURNS jsonb[]
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
    v_results jsonb[] := '{}';
    v_count   int := coalesce(array_length(p, 1), 0);
BEGIN
    IF coalesce(array_length(p_kinds, 1), 0) <> v_count
       OR coalesce(array_length(p_families, 1), 0) <> v_count THEN
        RAISE EXCEPTION 'a batch''s arrays differ in length' USING ERRCODE = 'check_violation';
    END IF;
    IF v_count > 1 THEN
        BEGIN  -- all together
            FOR i IN 1 .. v_count LOOP
                v_results := v_results || rx_post_batch_item(p_kinds[i], p_families[i], p[i]);
            END LOOP;
            RETURN v_results;
        EXCEPTION
            WHEN serialization_failure OR deadlock_detected OR unique_violation
                 OR check_violation THEN
                v_results := '{}';  -- rolled back: each on its own below
        END;
    END IF;
    FOR i IN 1 .. v_count LOOP
        BEGIN
            v_results := v_results || rx_post_batch_item(p_kinds[i], p_families[i], p[i]);
        EXCEPTION
            WHEN serialization_failure OR deadlock_detected OR unique_violation THEN
                v_results := v_results
                    || jsonb_build_object('outcome', 'conflict', 'message', SQLERRM);
            WHEN check_violation THEN
                v_results := v_results
                    || jsonb_build_object('outcome', 'invariant', 'message', SQLERRM);
        END;
    END LOOP;
    RETURN v_results;
END $$;

REVOKE EXECUTE ON FUNCTION rx_post_batch_item(text, text, jsonb) FROM PUBLIC;
