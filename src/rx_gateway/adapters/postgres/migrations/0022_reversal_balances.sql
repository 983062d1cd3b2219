-- 0022: a reversal answers the balances after it, not the ones its claim saw.
--
-- A B2's purse lines and 128-UC said what each purse had after the ORIGINAL claim plus what
-- the reversal gives back: stale by every claim paid since (a member's HRA at 500.00, claim A
-- paid 10.00, claim B 8.44, A reversed: 500.00 answered, 491.56 held). The stored claim a
-- reversal reads now carries the family's purses as they are (posted balance, and available:
-- posted plus allotments due by the claim's date of service, as a claim's read counts them)
-- and the member's class (whose benefit stack 128-UC sums). Same signature: grants and Citus distribution are kept.
CREATE OR REPLACE FUNCTION rx_claim_for_reversal(p_family_id text, p_claim_key text)
RETURNS jsonb
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, public, pg_temp AS $$
BEGIN
    RETURN (WITH c AS (
        SELECT * FROM claim
        WHERE family_id = p_family_id AND claim_key = p_claim_key
        ORDER BY generation DESC LIMIT 1
    )
    SELECT jsonb_build_object(
        'claim_id', c.claim_id, 'family_id', c.family_id, 'member_id', c.member_id,
        'cardholder_id', mb.cardholder_id, 'person_code', mb.person_code,
        'class_code', mb.class_code,
        'plan_id', c.plan_id, 'product_id', c.product_id, 'response', c.response,
        'reversal_response', (SELECT r.response FROM claim_reversal r
                              WHERE r.family_id = p_family_id AND r.claim_id = c.claim_id),
        'postings', (SELECT jsonb_agg(jsonb_build_object('account', p.account_key,
                                                         'amount', p.amount_cents)
                                      ORDER BY p.posting_id)
                     FROM posting p WHERE p.family_id = p_family_id AND p.entry_id = c.entry_id),
        'accumulator_moves', (SELECT coalesce(jsonb_agg(jsonb_build_object(
                                    'level', am.level, 'subject_id', am.subject_id,
                                    'plan_id', am.plan_id, 'plan_year_start', am.plan_year_start,
                                    'kind', am.kind, 'amount_cents', am.amount_cents)
                                  ORDER BY am.move_id), '[]')
                              FROM accumulator_move am
                              WHERE am.family_id = p_family_id AND am.entry_id = c.entry_id),
        'accumulators', (SELECT coalesce(jsonb_agg(jsonb_build_object(
                                    'level', a.level, 'subject_id', a.subject_id,
                                    'plan_id', a.plan_id, 'plan_year_start', a.plan_year_start,
                                    'kind', a.kind, 'amount_cents', a.amount_cents)), '[]')
                         FROM accumulator a
                         WHERE a.family_id = p_family_id
                           AND (a.subject_id = c.member_id AND a.level = 'individual'
                                OR a.subject_id = c.family_id AND a.level = 'family')
                           AND a.plan_id = c.plan_id
                           AND a.plan_year_start = (c.response->'accumulators'->>'plan_year')::date),
        'purses', (SELECT coalesce(jsonb_agg(jsonb_build_object(
                             'purse_id', pu.purse_id, 'kind', pu.kind,
                             'posted_cents', pu.posted_cents,
                             'available_cents', pu.posted_cents + coalesce(
                                 (SELECT sum(a.amount_cents) FROM purse_allotment a
                                  WHERE a.family_id = p_family_id AND a.purse_id = pu.purse_id
                                    AND a.available_on <= c.date_of_service
                                    AND NOT EXISTS (
                                        SELECT 1 FROM purse_funding f
                                        WHERE f.family_id = p_family_id
                                          AND f.funding_id = a.allotment_id)), 0))
                           ORDER BY pu.purse_id), '[]')
                   FROM purse pu WHERE pu.family_id = p_family_id))
    FROM c LEFT JOIN member mb ON mb.family_id = p_family_id AND mb.member_id = c.member_id);
END $$;
