-- The claim's hot path, profiled under load (issue 4). Three costs, the first two growing with the
-- data:
--
-- 1. rx_move_accumulators updated through `UPDATE ... FROM jsonb_to_recordset(...)`. The planner
--    guesses 100 rows from a set-returning function and chose a hash join over a sequential scan
--    of every accumulator row: 1.8 ms a claim at 10,000 members, more as members are added.
--    A claim now adds to them with one upsert by primary key (rx_post_claim); a reversal
--    updates each by primary key (rx_move_accumulators).
-- 2. The read found the family's purse spending (for per-period purse caps) by expanding the
--    stored response JSON of every family claim in a two-year window: a detoast and a parse per
--    claim, every claim. Spending now has its own narrow table, written with the claim.
-- 3. The read (rx_member_state) built one jsonb document from a dozen sub-plans and called
--    rx_due_allotments, a PL/pgSQL set-returning function, once per purse. The gateway now
--    sends one UNION ALL of typed rows instead (see below).

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

-- Only that expansion read claims by family: one index fewer to maintain per claim.
DROP INDEX claim_family_date;

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
-- The read is now one UNION ALL of typed rows sent by the gateway (adapters/postgres/store.py,
-- MEMBER_STATE_SQL): this function built one jsonb document out of a dozen sub-plans, and under
-- load it cost about twice the PostgreSQL CPU, most of it starting the executor for those
-- sub-plans and their JSON expressions on every call.
DROP FUNCTION rx_member_state(text, text, date, text);

-- ---------------------------------------------------------------- the hot-path write
-- As 0005's, with three changes: each purse move also records the claim's spending from that
-- purse; due allotments are released only when the gateway's read saw some (one query and a
-- PL/pgSQL call fewer for most claims that spend a purse); the inserts that only append are
-- one statement, and the accumulators one upsert by key (a claim only adds to them).
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

    -- Only when the gateway's read counted allotments that are due (a payload without the
    -- flag, from an older gateway: whenever purses pay, as before).
    IF jsonb_array_length(p->'purse_moves') > 0
       AND coalesce((p->>'releases_allotments')::boolean, true) THEN
        PERFORM rx_fund_purse(d.allotment_id, d.purse_id, d.amount_cents, p->>'actor',
                              'allotment released: ' || d.memo)
        FROM rx_due_allotments(p->>'family_id', (p->>'date_of_service')::date) d;
    END IF;

    -- The entry, its postings, the audit row, the accumulator moves and the claim: one
    -- statement (foreign keys and the balance trigger are checked at its end).
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
            RAISE EXCEPTION 'purse % cannot pay %', m.purse_id, -m.amount USING ERRCODE = '40001';
        END IF;
        INSERT INTO claim_purse_spend (claim_id, family_id, purse_id, date_of_service, paid_cents)
        VALUES (v_claim_id, p->>'family_id', m.purse_id, (p->>'date_of_service')::date, -m.amount);
    END LOOP;

    -- a claim only adds to accumulators (reversals subtract, through rx_move_accumulators)
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

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'rx_gateway_app') THEN
        GRANT SELECT, INSERT ON claim_purse_spend TO rx_gateway_app;
        REVOKE UPDATE, DELETE, TRUNCATE ON claim_purse_spend FROM rx_gateway_app;
        GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA public TO rx_gateway_app;
    END IF;
END $$;
