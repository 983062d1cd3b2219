-- Cached plans on the hot path. SQL-language functions are planned again on every call; PL/pgSQL
-- caches each statement's plan per connection (a generic plan after a few calls). Measured on the
-- read: rx_member_state went from about 1.9 ms to 0.2 ms per call, execution itself being 0.3 ms.
-- Same bodies as before, wrapped in PL/pgSQL.

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

CREATE OR REPLACE FUNCTION rx_move_accumulators(p_entry_id bigint, p_moves jsonb) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
INSERT INTO accumulator_move (entry_id, level, subject_id, plan_id, plan_year_start, kind,
                                  amount_cents)
    SELECT p_entry_id, x.level, x.subject_id, x.plan_id, x.plan_year_start, x.kind, x.amount
    FROM jsonb_to_recordset(p_moves) AS x(level text, subject_id text, plan_id text,
                                          plan_year_start date, kind text, amount bigint);

    INSERT INTO accumulator (level, subject_id, plan_id, plan_year_start, kind, amount_cents)
    SELECT DISTINCT x.level, x.subject_id, x.plan_id, x.plan_year_start, x.kind, 0::bigint
    FROM jsonb_to_recordset(p_moves) AS x(level text, subject_id text, plan_id text,
                                          plan_year_start date, kind text)
    ON CONFLICT DO NOTHING;

    UPDATE accumulator a SET amount_cents = a.amount_cents + x.total
    FROM (SELECT level, subject_id, plan_id, plan_year_start, kind, sum(amount) AS total
          FROM jsonb_to_recordset(p_moves) AS y(level text, subject_id text, plan_id text,
                                                plan_year_start date, kind text, amount bigint)
          GROUP BY 1, 2, 3, 4, 5) x
    WHERE a.subject_id = x.subject_id AND a.level = x.level AND a.plan_id = x.plan_id
      AND a.plan_year_start = x.plan_year_start AND a.kind = x.kind;
END $$;

CREATE OR REPLACE FUNCTION rx_claim_for_reversal(p_claim_key text) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (WITH c AS (
        SELECT * FROM claim WHERE claim_key = p_claim_key ORDER BY generation DESC LIMIT 1
    )
    SELECT jsonb_build_object(
        'claim_id', c.claim_id, 'family_id', c.family_id, 'member_id', c.member_id,
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
    FROM c);
END $$;

CREATE OR REPLACE FUNCTION rx_due_allotments(p_family_id text, p_date date)
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

-- The balance trigger summed through a join of new_postings with the whole posting table, and
-- its plan scanned every posting ever written: about 2 ms per claim on a small ledger, and
-- growing with it. Each touched entry is now summed by its index (posting_entry).
CREATE OR REPLACE FUNCTION rx_check_entries_balance() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    bad bigint;
BEGIN
    SELECT e.entry_id INTO bad
    FROM (SELECT DISTINCT entry_id FROM new_postings) e
    WHERE (SELECT sum(p.amount_cents) FROM posting p WHERE p.entry_id = e.entry_id) <> 0
    LIMIT 1;
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION 'journal entry % does not balance', bad USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END $$;
