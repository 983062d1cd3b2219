-- Period rules: quantities on claims (9G rolling quantity limits), rolling-period limits on
-- formulary entries (9G, AG), a quantity on prior authorizations, and scheduled purse
-- allotments (a quarterly allotment, a date, an enrolment event) that become available on a
-- date and are posted to the ledger by the first claim that needs them.

ALTER TABLE claim ADD COLUMN quantity_thousandths bigint NOT NULL DEFAULT 0
    CHECK (quantity_thousandths >= 0);
-- Purse period caps and frequency limits read the family's paid claims by date.
CREATE INDEX claim_family_date ON claim (family_id, date_of_service);

ALTER TABLE formulary
    ADD COLUMN period_days int CHECK (period_days > 0),
    ADD COLUMN period_quantity_limit_thousandths bigint CHECK (period_quantity_limit_thousandths > 0),
    ADD COLUMN period_days_supply_max int CHECK (period_days_supply_max > 0);

-- 90-day retail pharmacies may fill extended supplies like mail order (G9 elsewhere).
ALTER TABLE pharmacy DROP CONSTRAINT pharmacy_kind_check;
ALTER TABLE pharmacy ADD CONSTRAINT pharmacy_kind_check
    CHECK (kind IN ('retail', 'retail90', 'mail', 'specialty'));

ALTER TABLE prior_authorization
    ADD COLUMN quantity_thousandths bigint CHECK (quantity_thousandths > 0);

-- Money promised to a purse from a date. Released (funded through rx_fund_purse with the
-- allotment's ID as funding ID, so at most once) by the first claim dated on or after it.
CREATE TABLE purse_allotment (
    allotment_id  text PRIMARY KEY,
    purse_id      text NOT NULL REFERENCES purse,
    amount_cents  bigint NOT NULL CHECK (amount_cents > 0),
    available_on  date NOT NULL,
    memo          text NOT NULL DEFAULT '',
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX purse_allotment_purse ON purse_allotment (purse_id, available_on);
CREATE TRIGGER purse_allotment_append_only BEFORE UPDATE OR DELETE ON purse_allotment
    FOR EACH ROW EXECUTE FUNCTION rx_refuse_history_change();
CREATE TRIGGER purse_allotment_no_truncate BEFORE TRUNCATE ON purse_allotment
    FOR EACH STATEMENT EXECUTE FUNCTION rx_refuse_history_change();

-- Allotments of a family's purses that are due on a date and not yet funded.
CREATE FUNCTION rx_due_allotments(p_family_id text, p_date date)
RETURNS TABLE (allotment_id text, purse_id text, amount_cents bigint, memo text)
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN QUERY
    SELECT a.allotment_id, a.purse_id, a.amount_cents, a.memo
    FROM purse_allotment a JOIN purse p ON p.purse_id = a.purse_id
    WHERE p.family_id = p_family_id AND a.available_on <= p_date
      AND NOT EXISTS (SELECT 1 FROM purse_funding f WHERE f.funding_id = a.allotment_id)
    ORDER BY a.available_on, a.allotment_id;
END $$;

-- The hot-path read, now with purse posted/due/pending amounts, fill quantities and the
-- family's purse spending (for per-period caps and frequency limits). PL/pgSQL, so its plan is
-- cached per connection (see 0006): as a SQL-language function it cost about 1.9 ms a call to
-- plan against 0.3 ms to run.
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
                        'due_cents', (SELECT coalesce(sum(d.amount_cents), 0)
                                      FROM rx_due_allotments(pu.family_id, p_date_of_service) d
                                      WHERE d.purse_id = pu.purse_id),
                        'pending_cents', (SELECT coalesce(sum(a.amount_cents), 0)
                                          FROM purse_allotment a
                                          WHERE a.purse_id = pu.purse_id
                                            AND a.available_on > p_date_of_service))
                        ORDER BY pu.purse_id), '[]')
                   FROM purse pu JOIN m USING (family_id)),
        'fills', (SELECT coalesce(jsonb_agg(jsonb_build_object(
                        'molecule', c.molecule, 'date_of_service', c.date_of_service,
                        'days_supply', c.days_supply,
                        'quantity_thousandths', c.quantity_thousandths)), '[]')
                  FROM claim c JOIN m USING (member_id)
                  WHERE c.date_of_service BETWEEN p_date_of_service - 400 AND p_date_of_service
                    AND NOT EXISTS (SELECT 1 FROM claim_reversal r WHERE r.claim_id = c.claim_id)),
        'purse_spends', (SELECT coalesce(jsonb_agg(jsonb_build_object(
                        'purse_id', line->>'purse_id', 'date_of_service', c.date_of_service,
                        'paid_cents', (line->>'paid_cents')::bigint)), '[]')
                  FROM claim c JOIN m USING (family_id),
                       jsonb_array_elements(c.response->'purses') AS line
                  WHERE c.date_of_service BETWEEN p_date_of_service - 400
                                              AND p_date_of_service + 400
                    AND NOT EXISTS (SELECT 1 FROM claim_reversal r WHERE r.claim_id = c.claim_id)),
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

-- The hot-path write, now storing the quantity and releasing due allotments of the family's
-- purses before the purse moves (in the same transaction, after the family-version lock).
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
    LOOP
        UPDATE purse SET balance_cents = balance_cents + m.amount
        WHERE purse_id = m.purse_id AND family_id = p->>'family_id'
          AND balance_cents + m.amount >= 0;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'purse % cannot pay %', m.purse_id, -m.amount USING ERRCODE = '40001';
        END IF;
    END LOOP;

    PERFORM rx_move_accumulators(v_entry_id, p->'accumulator_moves');

    INSERT INTO audit_log (actor, action, claim_reference, outcome, detail)
    VALUES (p->>'actor', 'B1', p->>'internal_control_number', 'P', p->'audit');
    RETURN jsonb_build_object('outcome', 'posted', 'claim_id', v_claim_id);
END $$;

-- Schedule an allotment (idempotent by ID). Returns true when it was new.
CREATE FUNCTION rx_schedule_allotment(p_allotment_id text, p_purse_id text,
                                      p_amount_cents bigint, p_available_on date,
                                      p_actor text, p_memo text)
RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO purse_allotment (allotment_id, purse_id, amount_cents, available_on, memo)
    VALUES (p_allotment_id, p_purse_id, p_amount_cents, p_available_on, p_memo)
    ON CONFLICT (allotment_id) DO NOTHING;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    INSERT INTO audit_log (actor, action, outcome, detail)
    VALUES (p_actor, 'schedule_allotment', 'ok',
            jsonb_build_object('allotment_id', p_allotment_id, 'purse_id', p_purse_id,
                               'amount_cents', p_amount_cents, 'available_on', p_available_on,
                               'memo', p_memo));
    RETURN true;
END $$;

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'rx_gateway_app') THEN
        GRANT SELECT, INSERT ON purse_allotment TO rx_gateway_app;
        REVOKE UPDATE, DELETE, TRUNCATE ON purse_allotment FROM rx_gateway_app;
        GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA public TO rx_gateway_app;
    END IF;
END $$;
