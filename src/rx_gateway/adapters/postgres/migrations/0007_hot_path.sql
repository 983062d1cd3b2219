-- The claim's hot path, profiled under load (issue 4). Three costs, each growing with the data:
--
-- 1. rx_move_accumulators updated through `UPDATE ... FROM jsonb_to_recordset(...)`. The planner
--    guesses 100 rows from a set-returning function and chose a hash join over a sequential scan
--    of every accumulator row: 1.8 ms a claim at 10,000 members, more as members are added.
--    Each move is now one update by primary key.
-- 2. The read found the family's purse spending (for per-period purse caps) by expanding the
--    stored response JSON of every family claim in a two-year window: a detoast and a parse per
--    claim, every claim. Spending now has its own narrow table, written with the claim.
-- 3. The read called rx_due_allotments (a PL/pgSQL set-returning function) once per purse. Due
--    and pending allotments are now one indexed aggregate per purse inside the same statement.

-- ---------------------------------------------------------------- purse spending by date
-- What each paid claim took from each purse, dated by the claim's date of service. Append-only
-- like the rest of history; a reversal does not delete it (the read skips reversed claims).
CREATE TABLE claim_purse_spend (
    claim_id         bigint NOT NULL REFERENCES claim,
    family_id        text NOT NULL,
    purse_id         text NOT NULL,
    date_of_service  date NOT NULL,
    paid_cents       bigint NOT NULL CHECK (paid_cents > 0),
    PRIMARY KEY (claim_id, purse_id)
);
CREATE INDEX claim_purse_spend_family_date ON claim_purse_spend (family_id, date_of_service);
CREATE TRIGGER claim_purse_spend_append_only BEFORE UPDATE OR DELETE ON claim_purse_spend
    FOR EACH ROW EXECUTE FUNCTION rx_refuse_history_change();
CREATE TRIGGER claim_purse_spend_no_truncate BEFORE TRUNCATE ON claim_purse_spend
    FOR EACH STATEMENT EXECUTE FUNCTION rx_refuse_history_change();

-- Claims paid before this migration: their spending, from their stored responses (once).
INSERT INTO claim_purse_spend (claim_id, family_id, purse_id, date_of_service, paid_cents)
SELECT c.claim_id, c.family_id, line->>'purse_id', c.date_of_service,
       (line->>'paid_cents')::bigint
FROM claim c, jsonb_array_elements(c.response->'purses') AS line
WHERE (line->>'paid_cents')::bigint > 0;

-- ---------------------------------------------------------------- accumulators
CREATE OR REPLACE FUNCTION rx_move_accumulators(p_entry_id bigint, p_moves jsonb) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    m record;
BEGIN
    INSERT INTO accumulator_move (entry_id, level, subject_id, plan_id, plan_year_start, kind,
                                  amount_cents)
    SELECT p_entry_id, x.level, x.subject_id, x.plan_id, x.plan_year_start, x.kind, x.amount
    FROM jsonb_to_recordset(p_moves) AS x(level text, subject_id text, plan_id text,
                                          plan_year_start date, kind text, amount bigint);

    -- In primary-key order, so two transactions always lock accumulators in the same order.
    FOR m IN SELECT x.subject_id, x.level, x.plan_id, x.plan_year_start, x.kind,
                    sum(x.amount) AS total
             FROM jsonb_to_recordset(p_moves) AS x(level text, subject_id text, plan_id text,
                                                   plan_year_start date, kind text, amount bigint)
             GROUP BY 1, 2, 3, 4, 5
             ORDER BY 1, 2, 3, 4, 5
    LOOP
        UPDATE accumulator SET amount_cents = amount_cents + m.total
        WHERE subject_id = m.subject_id AND level = m.level AND plan_id = m.plan_id
          AND plan_year_start = m.plan_year_start AND kind = m.kind;
        IF NOT FOUND THEN
            INSERT INTO accumulator (level, subject_id, plan_id, plan_year_start, kind,
                                     amount_cents)
            VALUES (m.level, m.subject_id, m.plan_id, m.plan_year_start, m.kind, m.total);
        END IF;
    END LOOP;
END $$;

-- ---------------------------------------------------------------- the hot-path read
CREATE OR REPLACE FUNCTION rx_member_state(p_cardholder_id text, p_person_code text,
                                           p_date_of_service date, p_claim_key text)
RETURNS jsonb LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (WITH m AS (
        SELECT member_id, cardholder_id, person_code, family_id, employer_id, class_code,
               date_of_birth, gender_code
        FROM member WHERE cardholder_id = p_cardholder_id AND person_code = p_person_code
    )
    SELECT jsonb_build_object(
        'member', (SELECT to_jsonb(m) FROM m),
        'family_version', (SELECT f.version FROM family f JOIN m USING (family_id)),
        'coverages', (SELECT coalesce(jsonb_agg(to_jsonb(c) - 'member_id'), '[]')
                      FROM coverage c JOIN m USING (member_id)),
        'accumulators', (SELECT coalesce(jsonb_agg(to_jsonb(a)), '[]') FROM (
            SELECT a.* FROM accumulator a, m
            WHERE a.subject_id = m.member_id AND a.level = 'individual'
              AND a.plan_year_start BETWEEN p_date_of_service - 366 AND p_date_of_service
            UNION ALL
            SELECT a.* FROM accumulator a, m
            WHERE a.subject_id = m.family_id AND a.level = 'family'
              AND a.plan_year_start BETWEEN p_date_of_service - 366 AND p_date_of_service) a),
        'purses', (SELECT coalesce(jsonb_agg(jsonb_build_object(
                        'purse_id', pu.purse_id, 'kind', pu.kind,
                        'balance_cents', pu.balance_cents,
                        'due_cents', coalesce(al.due_cents, 0),
                        'pending_cents', coalesce(al.pending_cents, 0))
                        ORDER BY pu.purse_id), '[]')
                   FROM purse pu JOIN m USING (family_id)
                   LEFT JOIN LATERAL (
                       -- due: available by the date of service and not yet funded (the write
                       -- posts them); pending: available later
                       SELECT sum(a.amount_cents) FILTER (
                                  WHERE a.available_on <= p_date_of_service
                                    AND f.funding_id IS NULL) AS due_cents,
                              sum(a.amount_cents) FILTER (
                                  WHERE a.available_on > p_date_of_service) AS pending_cents
                       FROM purse_allotment a
                       LEFT JOIN purse_funding f ON f.funding_id = a.allotment_id
                       WHERE a.purse_id = pu.purse_id) al ON true),
        'fills', (SELECT coalesce(jsonb_agg(jsonb_build_object(
                        'molecule', c.molecule, 'date_of_service', c.date_of_service,
                        'days_supply', c.days_supply,
                        'quantity_thousandths', c.quantity_thousandths)), '[]')
                  FROM claim c JOIN m USING (member_id)
                  WHERE c.date_of_service BETWEEN p_date_of_service - 400 AND p_date_of_service
                    AND NOT EXISTS (SELECT 1 FROM claim_reversal r WHERE r.claim_id = c.claim_id)),
        'purse_spends', (SELECT coalesce(jsonb_agg(jsonb_build_object(
                        'purse_id', s.purse_id, 'date_of_service', s.date_of_service,
                        'paid_cents', s.paid_cents)), '[]')
                  FROM claim_purse_spend s JOIN m USING (family_id)
                  WHERE s.date_of_service BETWEEN p_date_of_service - 400
                                              AND p_date_of_service + 400
                    AND NOT EXISTS (SELECT 1 FROM claim_reversal r WHERE r.claim_id = s.claim_id)),
        'prior_authorizations', (SELECT coalesce(jsonb_agg(to_jsonb(pa) - 'member_id'), '[]')
                                 FROM prior_authorization pa JOIN m USING (member_id)),
        'existing', (SELECT jsonb_build_object(
                        'claim_id', c.claim_id, 'request_hash', c.request_hash,
                        'response', c.response,
                        'reversed', EXISTS (SELECT 1 FROM claim_reversal r
                                            WHERE r.claim_id = c.claim_id))
                     FROM claim c WHERE c.claim_key = p_claim_key
                     ORDER BY c.generation DESC LIMIT 1)
    ));
END $$;

-- ---------------------------------------------------------------- the hot-path write
-- As 0005's, and each purse move also records the claim's spending from that purse.
CREATE OR REPLACE FUNCTION rx_post_claim(p jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
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

    IF jsonb_array_length(p->'purse_moves') > 0 THEN
        PERFORM rx_fund_purse(d.allotment_id, d.purse_id, d.amount_cents, p->>'actor',
                              'allotment released: ' || d.memo)
        FROM rx_due_allotments(p->>'family_id', (p->>'date_of_service')::date) d;
    END IF;

    INSERT INTO journal_entry (kind) VALUES ('claim') RETURNING entry_id INTO v_entry_id;
    INSERT INTO posting (entry_id, account_key, amount_cents)
        SELECT v_entry_id, x.account, x.amount
        FROM jsonb_to_recordset(p->'postings') AS x(account text, amount bigint);

    INSERT INTO claim (claim_key, generation, request_hash, internal_control_number,
                       authorization_number, member_id, family_id, plan_id, pharmacy_npi,
                       product_id, molecule, date_of_service, days_supply, quantity_thousandths,
                       entry_id, reference_version, response)
    VALUES (p->>'claim_key', v_generation, p->>'request_hash', p->>'internal_control_number',
            p->>'authorization_number', p->>'member_id', p->>'family_id', p->>'plan_id',
            p->>'pharmacy_npi', p->>'product_id', p->>'molecule',
            (p->>'date_of_service')::date, (p->>'days_supply')::int,
            coalesce((p->>'quantity_thousandths')::bigint, 0), v_entry_id,
            p->>'reference_version', p->'response')
    RETURNING claim_id INTO v_claim_id;

    FOR m IN SELECT * FROM jsonb_to_recordset(p->'purse_moves') AS x(purse_id text, amount bigint)
             ORDER BY x.purse_id
    LOOP
        UPDATE purse SET balance_cents = balance_cents + m.amount
        WHERE purse_id = m.purse_id AND family_id = p->>'family_id'
          AND balance_cents + m.amount >= 0;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'purse % cannot pay %', m.purse_id, -m.amount USING ERRCODE = '40001';
        END IF;
        INSERT INTO claim_purse_spend (claim_id, family_id, purse_id, date_of_service, paid_cents)
        VALUES (v_claim_id, p->>'family_id', m.purse_id, (p->>'date_of_service')::date, -m.amount);
    END LOOP;

    PERFORM rx_move_accumulators(v_entry_id, p->'accumulator_moves');

    INSERT INTO audit_log (actor, action, claim_reference, outcome, detail)
    VALUES (p->>'actor', 'B1', p->>'internal_control_number', 'P', p->'audit');
    RETURN jsonb_build_object('outcome', 'posted', 'claim_id', v_claim_id);
END $$;

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'rx_gateway_app') THEN
        GRANT SELECT, INSERT ON claim_purse_spend TO rx_gateway_app;
        REVOKE UPDATE, DELETE, TRUNCATE ON claim_purse_spend FROM rx_gateway_app;
        GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA public TO rx_gateway_app;
    END IF;
END $$;
