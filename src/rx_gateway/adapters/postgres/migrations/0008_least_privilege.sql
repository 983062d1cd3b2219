-- Least privilege and one lock order (issue 11).
--
-- 1. The claim path's role (rx_gateway_app) can no longer create money. It could EXECUTE
--    rx_fund_purse and INSERT/UPDATE purse and family: a compromised gateway could have minted
--    purse dollars. Now every write of money goes through SECURITY DEFINER functions owned by
--    the schema owner (the administrative login that migrates), and the application role may
--    run only the claim functions, which refuse anything a claim cannot do: a claim spends a
--    purse (never funds it), its purse postings are exactly its purse moves, it posts nothing to
--    employer funding, and it only adds to accumulators. A reversal mirrors its original from
--    the ledger itself, not from what the caller sends.
-- 2. Funding (rx_fund_purse) locked purse then family; the claim path locks family then purse.
--    A funding call could deadlock with a claim. Everything now locks the family first.
-- 3. The admin interface gets a role of its own, rx_gateway_admin: funding, coverage and prior
--    authorizations, and no claim functions.

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'rx_gateway_admin') THEN
        CREATE ROLE rx_gateway_admin NOLOGIN;
    END IF;
EXCEPTION WHEN insufficient_privilege THEN
    RAISE NOTICE 'rx_gateway_admin not created: the migrating user lacks CREATEROLE';
END $$;

-- Functions are executable by PUBLIC unless revoked: nobody runs ours by default.
REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA public FROM PUBLIC;
ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC;

-- ---------------------------------------------------------------- funding: family first
CREATE OR REPLACE FUNCTION rx_fund_purse(p_funding_id text, p_purse_id text, p_amount_cents bigint,
                                         p_actor text, p_memo text)
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp
AS $$
DECLARE
    v_entry_id  bigint;
    v_purse     record;
BEGIN
    IF p_amount_cents <= 0 THEN
        RAISE EXCEPTION 'funding must be positive' USING ERRCODE = 'check_violation';
    END IF;
    SELECT purse_id, family_id, employer_id INTO v_purse FROM purse WHERE purse_id = p_purse_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown purse' USING ERRCODE = 'foreign_key_violation';
    END IF;
    -- The family row first, as every claim and reversal of the family does.
    UPDATE family SET version = version + 1 WHERE family_id = v_purse.family_id;
    IF EXISTS (SELECT 1 FROM purse_funding WHERE funding_id = p_funding_id) THEN
        RETURN NULL;
    END IF;
    UPDATE purse SET balance_cents = balance_cents + p_amount_cents WHERE purse_id = p_purse_id;
    INSERT INTO journal_entry (kind) VALUES ('funding') RETURNING entry_id INTO v_entry_id;
    INSERT INTO posting (entry_id, account_key, amount_cents) VALUES
        (v_entry_id, 'employer_funding:' || v_purse.employer_id, -p_amount_cents),
        (v_entry_id, 'purse:' || p_purse_id, p_amount_cents);
    INSERT INTO purse_funding (funding_id, purse_id, amount_cents, entry_id)
    VALUES (p_funding_id, p_purse_id, p_amount_cents, v_entry_id);
    INSERT INTO audit_log (actor, action, outcome, detail)
    VALUES (p_actor, 'fund_purse', 'ok',
            jsonb_build_object('funding_id', p_funding_id, 'purse_id', p_purse_id,
                               'amount_cents', p_amount_cents, 'memo', p_memo));
    RETURN v_entry_id;
END $$;

ALTER FUNCTION rx_schedule_allotment(text, text, bigint, date, text, text)
    SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp;
ALTER FUNCTION rx_due_allotments(text, date) SET search_path = pg_catalog, public, pg_temp;
ALTER FUNCTION rx_move_accumulators(bigint, jsonb) SET search_path = pg_catalog, public, pg_temp;
-- The latest claim under a key, as 0006's, with the patient's cardholder ID and person code
-- for the B2 cross-checks (302-C2 and 303-C3, when the reversal sends them).
CREATE OR REPLACE FUNCTION rx_claim_for_reversal(p_claim_key text) RETURNS jsonb
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, public, pg_temp AS $$
BEGIN
    RETURN (WITH c AS (
        SELECT * FROM claim WHERE claim_key = p_claim_key ORDER BY generation DESC LIMIT 1
    )
    SELECT jsonb_build_object(
        'claim_id', c.claim_id, 'family_id', c.family_id, 'member_id', c.member_id,
        'cardholder_id', mb.cardholder_id, 'person_code', mb.person_code,
        'plan_id', c.plan_id, 'product_id', c.product_id, 'response', c.response,
        'reversal_response', (SELECT r.response FROM claim_reversal r WHERE r.claim_id = c.claim_id),
        'postings', (SELECT jsonb_agg(jsonb_build_object('account', p.account_key,
                                                         'amount', p.amount_cents)
                                      ORDER BY p.posting_id)
                     FROM posting p WHERE p.entry_id = c.entry_id),
        'accumulator_moves', (SELECT coalesce(jsonb_agg(to_jsonb(am) - 'move_id' - 'entry_id'
                                                        ORDER BY am.move_id), '[]')
                              FROM accumulator_move am WHERE am.entry_id = c.entry_id),
        'accumulators', (SELECT coalesce(jsonb_agg(to_jsonb(a)), '[]') FROM accumulator a
                         WHERE (a.subject_id = c.member_id AND a.level = 'individual'
                                OR a.subject_id = c.family_id AND a.level = 'family')
                           AND a.plan_id = c.plan_id
                           AND a.plan_year_start = (c.response->'accumulators'->>'plan_year')::date))
    FROM c LEFT JOIN member mb ON mb.member_id = c.member_id);
END $$;

-- ---------------------------------------------------------------- the hot-path write
-- As 0007's, with the checks that keep the claim path from creating money (above).
CREATE OR REPLACE FUNCTION rx_post_claim(p jsonb) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
    v_entry_id    bigint;
    v_claim_id    bigint;
    v_generation  int;
    v_existing    record;
    m             record;
BEGIN
    UPDATE family SET version = version + 1
    WHERE family_id = p->>'family_id' AND version = (p->>'family_version')::bigint;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'family state changed since it was read' USING ERRCODE = '40001';
    END IF;

    -- IMPORTANT: what a claim may not do, whatever the caller sends.
    IF EXISTS (SELECT 1 FROM jsonb_to_recordset(p->'purse_moves') AS x(purse_id text, amount bigint)
               WHERE x.amount IS NULL OR x.amount >= 0) THEN
        RAISE EXCEPTION 'a claim only spends purses' USING ERRCODE = 'check_violation';
    END IF;
    IF EXISTS (
        (SELECT 'purse:' || x.purse_id, x.amount
           FROM jsonb_to_recordset(p->'purse_moves') AS x(purse_id text, amount bigint)
         EXCEPT ALL
         SELECT y.account, y.amount
           FROM jsonb_to_recordset(p->'postings') AS y(account text, amount bigint)
          WHERE y.account LIKE 'purse:%')
        UNION ALL
        (SELECT y.account, y.amount
           FROM jsonb_to_recordset(p->'postings') AS y(account text, amount bigint)
          WHERE y.account LIKE 'purse:%'
         EXCEPT ALL
         SELECT 'purse:' || x.purse_id, x.amount
           FROM jsonb_to_recordset(p->'purse_moves') AS x(purse_id text, amount bigint))
    ) THEN
        RAISE EXCEPTION 'purse postings differ from purse moves' USING ERRCODE = 'check_violation';
    END IF;
    IF EXISTS (SELECT 1 FROM jsonb_to_recordset(p->'postings') AS y(account text, amount bigint)
               WHERE y.account LIKE 'employer_funding:%') THEN
        RAISE EXCEPTION 'a claim does not post employer funding' USING ERRCODE = 'check_violation';
    END IF;
    IF EXISTS (SELECT 1 FROM jsonb_to_recordset(p->'accumulator_moves') AS x(amount bigint)
               WHERE x.amount IS NULL OR x.amount <= 0) THEN
        RAISE EXCEPTION 'a claim only adds to accumulators' USING ERRCODE = 'check_violation';
    END IF;

    SELECT c.claim_id, c.generation, c.request_hash, c.response,
           EXISTS (SELECT 1 FROM claim_reversal r WHERE r.claim_id = c.claim_id) AS reversed
      INTO v_existing
      FROM claim c WHERE c.claim_key = p->>'claim_key'
     ORDER BY c.generation DESC LIMIT 1;
    IF FOUND AND NOT v_existing.reversed THEN
        RETURN jsonb_build_object('outcome', 'duplicate', 'claim_id', v_existing.claim_id,
                                  'request_hash', v_existing.request_hash,
                                  'response', v_existing.response);
    END IF;
    v_generation := coalesce(v_existing.generation, 0) + 1;

    IF jsonb_array_length(p->'purse_moves') > 0
       AND coalesce((p->>'releases_allotments')::boolean, true) THEN
        PERFORM rx_fund_purse(d.allotment_id, d.purse_id, d.amount_cents, p->>'actor',
                              'allotment released: ' || d.memo)
        FROM rx_due_allotments(p->>'family_id', (p->>'date_of_service')::date) d;
    END IF;

    WITH entry AS (
        INSERT INTO journal_entry (kind) VALUES ('claim') RETURNING entry_id
    ), postings AS (
        INSERT INTO posting (entry_id, account_key, amount_cents)
        SELECT entry.entry_id, x.account, x.amount
        FROM entry, jsonb_to_recordset(p->'postings') AS x(account text, amount bigint)
    ), audit AS (
        INSERT INTO audit_log (actor, action, claim_reference, outcome, detail)
        VALUES (p->>'actor', 'B1', p->>'internal_control_number', 'P', p->'audit')
    ), moves AS (
        INSERT INTO accumulator_move (entry_id, level, subject_id, plan_id, plan_year_start,
                                      kind, amount_cents)
        SELECT entry.entry_id, x.level, x.subject_id, x.plan_id, x.plan_year_start, x.kind,
               x.amount
        FROM entry, jsonb_to_recordset(p->'accumulator_moves')
             AS x(level text, subject_id text, plan_id text, plan_year_start date, kind text,
                  amount bigint)
    )
    INSERT INTO claim (claim_key, generation, request_hash, internal_control_number,
                       authorization_number, member_id, family_id, plan_id, pharmacy_npi,
                       product_id, molecule, date_of_service, days_supply, quantity_thousandths,
                       entry_id, reference_version, response)
    SELECT p->>'claim_key', v_generation, p->>'request_hash', p->>'internal_control_number',
           p->>'authorization_number', p->>'member_id', p->>'family_id', p->>'plan_id',
           p->>'pharmacy_npi', p->>'product_id', p->>'molecule',
           (p->>'date_of_service')::date, (p->>'days_supply')::int,
           coalesce((p->>'quantity_thousandths')::bigint, 0), entry.entry_id,
           p->>'reference_version', p->'response'
    FROM entry
    RETURNING claim_id, entry_id INTO v_claim_id, v_entry_id;

    FOR m IN SELECT * FROM jsonb_to_recordset(p->'purse_moves') AS x(purse_id text, amount bigint)
             ORDER BY x.purse_id
    LOOP
        UPDATE purse SET balance_cents = balance_cents + m.amount
        WHERE purse_id = m.purse_id AND family_id = p->>'family_id'
          AND balance_cents + m.amount >= 0;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'purse cannot pay' USING ERRCODE = '40001';
        END IF;
        INSERT INTO claim_purse_spend (claim_id, family_id, purse_id, date_of_service, paid_cents)
        VALUES (v_claim_id, p->>'family_id', m.purse_id, (p->>'date_of_service')::date, -m.amount);
    END LOOP;

    INSERT INTO accumulator AS a (level, subject_id, plan_id, plan_year_start, kind, amount_cents)
    SELECT x.level, x.subject_id, x.plan_id, x.plan_year_start, x.kind, sum(x.amount)
    FROM jsonb_to_recordset(p->'accumulator_moves')
         AS x(level text, subject_id text, plan_id text, plan_year_start date, kind text,
              amount bigint)
    GROUP BY 1, 2, 3, 4, 5
    ORDER BY 2, 1, 3, 4, 5
    ON CONFLICT (subject_id, level, plan_id, plan_year_start, kind)
    DO UPDATE SET amount_cents = a.amount_cents + EXCLUDED.amount_cents;

    RETURN jsonb_build_object('outcome', 'posted', 'claim_id', v_claim_id);
END $$;

-- ---------------------------------------------------------------- reversal
-- The mirror is taken from the ledger: the original entry's postings negated, its purse
-- spending given back, its accumulator moves negated. The caller sends only the answer (the
-- response and authorization number it gives the switch) and the audit detail.
CREATE OR REPLACE FUNCTION rx_post_reversal(p jsonb) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
    v_entry_id  bigint;
    v_claim     record;
    v_response  jsonb;
    m           record;
BEGIN
    SELECT claim_id, family_id, entry_id INTO v_claim
      FROM claim WHERE claim_id = (p->>'claim_id')::bigint;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no such claim' USING ERRCODE = 'foreign_key_violation';
    END IF;
    -- Lock the family first: reversals, claims and funding of one family serialize here.
    UPDATE family SET version = version + 1 WHERE family_id = v_claim.family_id;
    SELECT r.response INTO v_response FROM claim_reversal r WHERE r.claim_id = v_claim.claim_id;
    IF FOUND THEN
        RETURN jsonb_build_object('outcome', 'duplicate', 'response', v_response);
    END IF;

    INSERT INTO journal_entry (kind, reverses_entry_id) VALUES ('reversal', v_claim.entry_id)
        RETURNING entry_id INTO v_entry_id;
    INSERT INTO posting (entry_id, account_key, amount_cents)
        SELECT v_entry_id, o.account_key, -o.amount_cents
        FROM posting o WHERE o.entry_id = v_claim.entry_id ORDER BY o.posting_id;
    INSERT INTO claim_reversal (claim_id, entry_id, authorization_number, response)
    VALUES (v_claim.claim_id, v_entry_id, p->>'authorization_number', p->'response');

    FOR m IN SELECT s.purse_id, s.paid_cents FROM claim_purse_spend s
             WHERE s.claim_id = v_claim.claim_id ORDER BY s.purse_id
    LOOP
        UPDATE purse SET balance_cents = balance_cents + m.paid_cents WHERE purse_id = m.purse_id;
    END LOOP;
    PERFORM rx_move_accumulators(
        v_entry_id,
        (SELECT coalesce(jsonb_agg(jsonb_build_object(
                    'level', am.level, 'subject_id', am.subject_id, 'plan_id', am.plan_id,
                    'plan_year_start', am.plan_year_start, 'kind', am.kind,
                    'amount', -am.amount_cents) ORDER BY am.move_id), '[]')
         FROM accumulator_move am WHERE am.entry_id = v_claim.entry_id));

    INSERT INTO audit_log (actor, action, claim_reference, outcome, detail)
    VALUES (p->>'actor', 'B2', p->'response'->>'internal_control_number', 'A', p->'audit');
    RETURN jsonb_build_object('outcome', 'posted');
END $$;

-- ---------------------------------------------------------------- grants
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'rx_gateway_app') THEN
        -- reads stay; writes of state and history go through the claim functions only
        REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON family, purse, accumulator FROM rx_gateway_app;
        REVOKE INSERT ON journal_entry, posting, claim, claim_reversal, accumulator_move,
                         purse_funding, purse_allotment, claim_purse_spend FROM rx_gateway_app;
        REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA public FROM rx_gateway_app;
        GRANT EXECUTE ON FUNCTION rx_post_claim(jsonb), rx_post_reversal(jsonb),
                                  rx_claim_for_reversal(text) TO rx_gateway_app;
        -- the one direct write left: audit rows of answers that wrote nothing else
        GRANT INSERT ON audit_log TO rx_gateway_app;
    END IF;
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'rx_gateway_admin') THEN
        EXECUTE format('GRANT CONNECT ON DATABASE %I TO rx_gateway_admin', current_database());
        GRANT USAGE ON SCHEMA public TO rx_gateway_admin;
        GRANT SELECT ON ALL TABLES IN SCHEMA public TO rx_gateway_admin;
        GRANT INSERT, UPDATE ON coverage, prior_authorization TO rx_gateway_admin;
        GRANT INSERT ON audit_log TO rx_gateway_admin;
        GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO rx_gateway_admin;
        GRANT EXECUTE ON FUNCTION rx_fund_purse(text, text, bigint, text, text),
                                  rx_schedule_allotment(text, text, bigint, date, text, text)
            TO rx_gateway_admin;
    END IF;
END $$;

-- ---------------------------------------------------------------- coverage level
-- Whom a coverage covers (X12 834 HD05): self-only coverage has its own deductible and
-- out-of-pocket figures, and a family's may be aggregate (an HSA-qualified plan's must be at
-- least the family minimum for every member). Existing coverage of one-person families is
-- self-only; loads without the column derive it the same way.
ALTER TABLE coverage ADD COLUMN coverage_level text NOT NULL DEFAULT 'family'
    CHECK (coverage_level IN ('self_only', 'family'));
UPDATE coverage c SET coverage_level = 'self_only'
WHERE (SELECT count(*) FROM member m
       WHERE m.family_id = (SELECT o.family_id FROM member o WHERE o.member_id = c.member_id)) = 1;
