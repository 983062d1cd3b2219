-- Cached plans on the hot path. SQL-language functions are planned again on every call; PL/pgSQL
-- caches each statement's plan per connection (a generic plan after a few calls). 0005 already
-- defines its functions in PL/pgSQL; these are 0001's, same bodies, wrapped.

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
