-- Natural batching (issue 16): the claims in flight at one moment share one write, in ONE
-- transaction, each claim still all-or-nothing on its own. Every item runs in a subtransaction
-- (a plpgsql block with an EXCEPTION clause): an item that fails (its family changed since it
-- was read, a purse that can no longer pay, an invariant) rolls back alone and reports why;
-- the others commit together. Items are applied in the order given (the caller sorts them by
-- family, so two writers lock families in the same order).
--
-- p_kinds[i]: 'claim' (rx_post_claim), 'reversal' (rx_post_reversal) or 'audit' (the audit row
-- of an answer that wrote nothing else: p[i] holds its columns).
CREATE OR REPLACE FUNCTION rx_post_batch(p_kinds text[], p_families text[], p jsonb[])
RETURNS jsonb[]
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
    v_results jsonb[] := '{}';
    v_result  jsonb;
BEGIN
    IF coalesce(array_length(p_kinds, 1), 0) <> coalesce(array_length(p, 1), 0)
       OR coalesce(array_length(p_families, 1), 0) <> coalesce(array_length(p, 1), 0) THEN
        RAISE EXCEPTION 'a batch''s arrays differ in length' USING ERRCODE = 'check_violation';
    END IF;
    FOR i IN 1 .. coalesce(array_length(p, 1), 0) LOOP
        BEGIN
            IF p_kinds[i] = 'claim' THEN
                v_result := rx_post_claim(p_families[i], p[i]);
            ELSIF p_kinds[i] = 'reversal' THEN
                v_result := rx_post_reversal(p_families[i], p[i]);
            ELSIF p_kinds[i] = 'audit' THEN
                INSERT INTO audit_log (family_id, actor, action, internal_control_number,
                                       outcome, detail)
                VALUES (p_families[i], p[i]->>'actor', p[i]->>'action',
                        nullif(p[i]->>'internal_control_number', ''), p[i]->>'outcome',
                        p[i]->'detail');
                v_result := jsonb_build_object('outcome', 'posted');
            ELSE
                RAISE EXCEPTION 'unknown batch item kind %', p_kinds[i]
                    USING ERRCODE = 'check_violation';
            END IF;
        EXCEPTION
            WHEN serialization_failure OR deadlock_detected OR unique_violation THEN
                v_result := jsonb_build_object('outcome', 'conflict', 'message', SQLERRM);
            WHEN check_violation THEN
                v_result := jsonb_build_object('outcome', 'invariant', 'message', SQLERRM);
        END;
        v_results := v_results || v_result;
    END LOOP;
    RETURN v_results;
END $$;

REVOKE EXECUTE ON FUNCTION rx_post_batch(text[], text[], jsonb[]) FROM PUBLIC;
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'rx_gateway_app') THEN
        GRANT EXECUTE ON FUNCTION rx_post_batch(text[], text[], jsonb[]) TO rx_gateway_app;
    END IF;
END $$;
