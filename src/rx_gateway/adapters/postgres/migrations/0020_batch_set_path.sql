-- 0020: a batch's claims posted set by set (issue 16).
--
-- rx_post_batch (0014, 0016) ran rx_post_claim once per claim: about twenty statements a claim,
-- each paying PostgreSQL's per-statement cost again (finding and starting its plan, its
-- snapshot, parsing the table's CHECK expressions, its triggers' queue): under load more than
-- half of the database's CPU for a claim (perf on a backend replaying the gateway's own
-- batches). rx_post_batch_set posts every claim of a batch with one statement per table: one
-- insert of the batch's journal entries, one of their postings, one of the claims, and so on.
-- The rows are the ones rx_post_claim writes, checked by the same rules.
--
-- It takes the usual batch: every claim and reversal of a different family (the card's turns
-- make two writes of one family in one batch rare), no claim already stored under its key
-- (retransmissions are answered from the read before they get here), no allotment due to be
-- released, no reward. Anything else, and any claim that breaks a rule, raises RXN01 before
-- anything is kept; a family changed since it was read, or a purse that can no longer pay,
-- raises 40001. Either way rx_post_batch rolls the set path back and posts the batch claim by
-- claim as before, so that each claim gets its own answer (posted, duplicate, conflict or
-- invariant) exactly as rx_post_claim gives it.
--
-- Families are locked in family order first (code point order, as the caller sorts the batch
-- for the claim-by-claim path), so that two writers (--workers) never wait on each other in a
-- cycle; FOR NO KEY UPDATE, the lock the claim-by-claim path's UPDATE of the family takes, so
-- that foreign-key checks of rows inserted elsewhere for the family do not wait on it.
--
-- Its statements are planned once per connection (the claim pool's plan_cache_mode), possibly
-- on a fresh database whose claim tables are empty: there a hash join over a sequential scan
-- of claim looks cheapest, and the plan would stay while the table grows (on an embedded
-- PostgreSQL 16 under `rx-gateway bench` the write's CPU per claim grew through the run).
-- Every statement here is a handful of rows looked up by key, so the function plans with
-- nested loops over indexes only (enable_hashjoin, enable_mergejoin, enable_seqscan off).
CREATE FUNCTION rx_post_batch_set(p_kinds text[], p_families text[], p jsonb[])
RETURNS jsonb[]
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
SET enable_hashjoin = off
SET enable_mergejoin = off
SET enable_seqscan = off
AS $$
DECLARE
    v_claims    int;
    v_rows      int;
    v_entry_of  jsonb;  -- family -> the claim's journal entry
    v_claim_of  jsonb;  -- family -> the claim's ID
    v_results   jsonb[] := '{}';
BEGIN
    IF EXISTS (SELECT 1 FROM unnest(p_kinds) AS k
               WHERE k IS NULL OR k NOT IN ('claim', 'reversal', 'audit'))
       OR (SELECT count(DISTINCT x.f) <> count(*)
           FROM unnest(p_kinds, p_families) AS x(k, f) WHERE x.k <> 'audit') THEN
        RAISE EXCEPTION 'not a batch for the set path' USING ERRCODE = 'RXN01';
    END IF;
    PERFORM 1 FROM family f
     WHERE f.family_id IN (SELECT x.f FROM unnest(p_kinds, p_families) AS x(k, f)
                           WHERE x.k <> 'audit')
     ORDER BY f.family_id COLLATE "C"  -- the caller's order (Python sorts by code point)
       FOR NO KEY UPDATE;                 -- what UPDATE family takes: no wait on FK checks

    -- IMPORTANT: what a claim may not do, whatever the caller sends (rx_post_claim's rules),
    -- and what the set path leaves to it.
    IF EXISTS (
        SELECT 1 FROM unnest(p_kinds, p_families, p) AS b(k, family_id, doc)
        WHERE b.k = 'claim' AND (
            NOT EXISTS (SELECT 1 FROM member m
                        WHERE m.family_id = b.family_id AND m.member_id = b.doc->>'member_id')
            OR EXISTS (SELECT 1 FROM jsonb_to_recordset(b.doc->'purse_moves')
                                     AS x(purse_id text, amount bigint)
                       WHERE x.amount IS NULL OR x.amount >= 0)
            OR EXISTS (
                (SELECT 'purse:' || x.purse_id, x.amount
                   FROM jsonb_to_recordset(b.doc->'purse_moves') AS x(purse_id text, amount bigint)
                 EXCEPT ALL
                 SELECT y.account, y.amount
                   FROM jsonb_to_recordset(b.doc->'postings') AS y(account text, amount bigint)
                  WHERE y.account LIKE 'purse:%')
                UNION ALL
                (SELECT y.account, y.amount
                   FROM jsonb_to_recordset(b.doc->'postings') AS y(account text, amount bigint)
                  WHERE y.account LIKE 'purse:%'
                 EXCEPT ALL
                 SELECT 'purse:' || x.purse_id, x.amount
                   FROM jsonb_to_recordset(b.doc->'purse_moves') AS x(purse_id text, amount bigint)))
            OR EXISTS (SELECT 1 FROM jsonb_to_recordset(b.doc->'postings')
                                     AS y(account text, amount bigint)
                       WHERE y.account LIKE 'employer_funding:%')
            OR EXISTS (SELECT 1 FROM jsonb_to_recordset(b.doc->'accumulator_moves')
                                     AS x(level text, subject_id text, amount bigint)
                       WHERE x.amount IS NULL OR x.amount <= 0
                          OR NOT (x.level = 'individual' AND x.subject_id = b.doc->>'member_id'
                                  OR x.level = 'family' AND x.subject_id = b.family_id))
            -- left to rx_post_claim: rewards, a key already stored, allotments to release
            OR jsonb_array_length(coalesce(b.doc->'reward_moves', '[]'::jsonb)) > 0
            OR EXISTS (SELECT 1 FROM claim c
                       WHERE c.family_id = b.family_id AND c.claim_key = b.doc->>'claim_key')
            OR jsonb_array_length(b.doc->'purse_moves') > 0
               AND coalesce((b.doc->>'releases_allotments')::boolean, true)
               AND EXISTS (SELECT 1 FROM purse_allotment a
                           WHERE a.family_id = b.family_id
                             AND a.available_on <= (b.doc->>'date_of_service')::date
                             AND NOT EXISTS (SELECT 1 FROM purse_funding f
                                             WHERE f.family_id = a.family_id
                                               AND f.funding_id = a.allotment_id))
        )
    ) THEN
        RAISE EXCEPTION 'a claim for the claim-by-claim path' USING ERRCODE = 'RXN01';
    END IF;

    SELECT count(*) INTO v_claims FROM unnest(p_kinds) AS k WHERE k = 'claim';
    UPDATE family f SET version = f.version + 1
      FROM unnest(p_kinds, p_families, p) AS b(k, family_id, doc)
     WHERE b.k = 'claim' AND f.family_id = b.family_id
       AND f.version = (b.doc->>'family_version')::bigint;
    GET DIAGNOSTICS v_rows = ROW_COUNT;
    IF v_rows <> v_claims THEN
        RAISE EXCEPTION 'family state changed since it was read' USING ERRCODE = '40001';
    END IF;

    WITH e AS (
        INSERT INTO journal_entry (family_id, kind)
        SELECT b.family_id, 'claim' FROM unnest(p_kinds, p_families) AS b(k, family_id)
        WHERE b.k = 'claim' ORDER BY b.family_id
        RETURNING family_id, entry_id)
    SELECT coalesce(jsonb_object_agg(e.family_id, e.entry_id), '{}') INTO v_entry_of FROM e;

    INSERT INTO posting (family_id, entry_id, account_key, amount_cents)
    SELECT b.family_id, (v_entry_of->>b.family_id)::bigint, x.account, x.amount
    FROM unnest(p_kinds, p_families, p) AS b(k, family_id, doc)
    CROSS JOIN LATERAL ROWS FROM (
        jsonb_to_recordset(b.doc->'postings') AS (account text, amount bigint)
    ) WITH ORDINALITY AS x(account, amount, n)
    WHERE b.k = 'claim'
    ORDER BY b.family_id, x.n;

    WITH c AS (
        INSERT INTO claim (family_id, claim_key, generation, request_hash,
                           internal_control_number, authorization_number, member_id, plan_id,
                           service_provider_id, product_id, molecule, date_of_service,
                           days_supply, quantity_thousandths, entry_id, reference_data_version,
                           response, gross_amount_due_cents)
        SELECT b.family_id, b.doc->>'claim_key', 1, b.doc->>'request_hash',
               b.doc->>'internal_control_number', b.doc->>'authorization_number',
               b.doc->>'member_id', b.doc->>'plan_id', b.doc->>'service_provider_id',
               b.doc->>'product_id', b.doc->>'molecule', (b.doc->>'date_of_service')::date,
               (b.doc->>'days_supply')::int, coalesce((b.doc->>'quantity_thousandths')::bigint, 0),
               (v_entry_of->>b.family_id)::bigint, b.doc->>'reference_data_version',
               b.doc->'response', (b.doc->>'gross_amount_due_cents')::bigint
        FROM unnest(p_kinds, p_families, p) AS b(k, family_id, doc)
        WHERE b.k = 'claim'
        ORDER BY b.family_id
        RETURNING family_id, claim_id)
    SELECT coalesce(jsonb_object_agg(c.family_id, c.claim_id), '{}') INTO v_claim_of FROM c;

    INSERT INTO accumulator_move (family_id, entry_id, level, subject_id, plan_id,
                                  plan_year_start, kind, amount_cents)
    SELECT b.family_id, (v_entry_of->>b.family_id)::bigint, x.level, x.subject_id, x.plan_id,
           x.plan_year_start, x.kind, x.amount
    FROM unnest(p_kinds, p_families, p) AS b(k, family_id, doc)
    CROSS JOIN LATERAL ROWS FROM (
        jsonb_to_recordset(b.doc->'accumulator_moves')
            AS (level text, subject_id text, plan_id text, plan_year_start date, kind text,
                amount bigint)
    ) WITH ORDINALITY AS x(level, subject_id, plan_id, plan_year_start, kind, amount, n)
    WHERE b.k = 'claim'
    ORDER BY b.family_id, x.n;

    -- the paid claims' audit rows and the batch's audit items (answers that wrote nothing else)
    INSERT INTO audit_log (family_id, actor, action, internal_control_number, outcome, detail)
    SELECT b.family_id, b.doc->>'actor',
           CASE b.k WHEN 'claim' THEN 'B1' ELSE b.doc->>'action' END,
           CASE b.k WHEN 'claim' THEN b.doc->>'internal_control_number'
                    ELSE nullif(b.doc->>'internal_control_number', '') END,
           CASE b.k WHEN 'claim' THEN 'P' ELSE b.doc->>'outcome' END,
           CASE b.k WHEN 'claim' THEN b.doc->'audit' ELSE b.doc->'detail' END
    FROM unnest(p_kinds, p_families, p) WITH ORDINALITY AS b(k, family_id, doc, i)
    WHERE b.k IN ('claim', 'audit')
    ORDER BY b.i;

    UPDATE purse pu SET posted_cents = pu.posted_cents + m.amount
      FROM (SELECT b.family_id, x.purse_id, sum(x.amount)::bigint AS amount
              FROM unnest(p_kinds, p_families, p) AS b(k, family_id, doc)
             CROSS JOIN LATERAL jsonb_to_recordset(b.doc->'purse_moves')
                        AS x(purse_id text, amount bigint)
             WHERE b.k = 'claim'
             GROUP BY 1, 2) m
     WHERE pu.family_id = ANY (p_families)  -- the batch's purses by index, not a scan of all
       AND pu.family_id = m.family_id AND pu.purse_id = m.purse_id
       AND pu.posted_cents + m.amount >= 0;
    GET DIAGNOSTICS v_rows = ROW_COUNT;
    IF v_rows <> (SELECT count(DISTINCT (b.family_id, x.purse_id))
                    FROM unnest(p_kinds, p_families, p) AS b(k, family_id, doc)
                   CROSS JOIN LATERAL jsonb_to_recordset(b.doc->'purse_moves') AS x(purse_id text)
                   WHERE b.k = 'claim') THEN
        RAISE EXCEPTION 'purse cannot pay' USING ERRCODE = '40001';
    END IF;
    INSERT INTO claim_purse_spend (family_id, claim_id, purse_id, date_of_service, paid_cents)
    SELECT b.family_id, (v_claim_of->>b.family_id)::bigint, x.purse_id,
           (b.doc->>'date_of_service')::date, -x.amount
    FROM unnest(p_kinds, p_families, p) AS b(k, family_id, doc)
    CROSS JOIN LATERAL jsonb_to_recordset(b.doc->'purse_moves') AS x(purse_id text, amount bigint)
    WHERE b.k = 'claim'
    ORDER BY b.family_id, x.purse_id;

    INSERT INTO accumulator AS a (family_id, level, subject_id, plan_id, plan_year_start, kind,
                                  amount_cents)
    SELECT b.family_id, x.level, x.subject_id, x.plan_id, x.plan_year_start, x.kind,
           sum(x.amount)::bigint
    FROM unnest(p_kinds, p_families, p) AS b(k, family_id, doc)
    CROSS JOIN LATERAL jsonb_to_recordset(b.doc->'accumulator_moves')
               AS x(level text, subject_id text, plan_id text, plan_year_start date, kind text,
                    amount bigint)
    WHERE b.k = 'claim'
    GROUP BY 1, 2, 3, 4, 5, 6
    ORDER BY 1, 3, 2, 4, 5, 6
    ON CONFLICT (family_id, subject_id, level, plan_id, plan_year_start, kind)
    DO UPDATE SET amount_cents = a.amount_cents + EXCLUDED.amount_cents;

    FOR i IN 1 .. coalesce(array_length(p, 1), 0) LOOP
        IF p_kinds[i] = 'claim' THEN
            v_results := v_results || jsonb_build_object(
                'outcome', 'posted', 'claim_id', (v_claim_of->>p_families[i])::bigint);
        ELSIF p_kinds[i] = 'reversal' THEN
            v_results := v_results || rx_post_reversal(p_families[i], p[i]);
        ELSE
            v_results := v_results || jsonb_build_object('outcome', 'posted');
        END IF;
    END LOOP;
    RETURN v_results;
END $$;

REVOKE EXECUTE ON FUNCTION rx_post_batch_set(text[], text[], jsonb[]) FROM PUBLIC;

-- rx_post_batch: 0016's, trying the set path first for two claims or more. A batch the set
-- path does not take (RXN01) is posted claim by claim, first together, then each on its own if
-- one fails; a batch where the set path met a conflict or a broken rule goes straight to each
-- on its own.
CREATE OR REPLACE FUNCTION rx_post_batch(p_kinds text[], p_families text[], p jsonb[])
RETURNS jsonb[]
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
    v_results  jsonb[] := '{}';
    v_count    int := coalesce(array_length(p, 1), 0);
    v_together boolean := v_count > 1;
BEGIN
    IF coalesce(array_length(p_kinds, 1), 0) <> v_count
       OR coalesce(array_length(p_families, 1), 0) <> v_count THEN
        RAISE EXCEPTION 'a batch''s arrays differ in length' USING ERRCODE = 'check_violation';
    END IF;
    -- one claim alone costs less claim by claim (a set statement's fixed cost is higher); from
    -- two claims on, set by set costs less, about 30% less at eight (benchmarks/write_bench.py)
    IF (SELECT count(*) FROM unnest(p_kinds) AS k WHERE k = 'claim') > 1 THEN
        BEGIN  -- set by set
            RETURN rx_post_batch_set(p_kinds, p_families, p);
        EXCEPTION
            WHEN SQLSTATE 'RXN01' THEN
                NULL;  -- rolled back: claim by claim below
            WHEN serialization_failure OR deadlock_detected OR unique_violation
                 OR check_violation THEN
                v_together := false;  -- rolled back: each on its own below
        END;
    END IF;
    IF v_together THEN
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
