-- 0024: a reversal answers the family's balances after it, even when the family moves.
--
-- 0022 made a reversal answer the family's purses and accumulators as they are, read before
-- the write; an outside tester's soak found the answer stale whenever a claim or another
-- reversal of the family was written in between (two reversals in one batch both answered the
-- balances before the batch: an HRA said 670.00 where 960.00 was held). The ledger was right.
-- As a claim does, a reversal now carries the family version it read; rx_post_reversal refuses
-- a changed family (40001) and the gateway reads the reversal again. A payload without the
-- version (a caller of the earlier release) is posted as before. Same signatures: grants and
-- Citus distribution are kept.
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
        'family_version', (SELECT f.version FROM family f WHERE f.family_id = p_family_id),
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

CREATE OR REPLACE FUNCTION rx_post_reversal(p_family_id text, p jsonb) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
    v_entry_id  bigint;
    v_claim     record;
    v_response  jsonb;
    v_reward_id bigint;
    v_held      bigint;
    m           record;
BEGIN
    -- Lock the family first: reversals, claims and funding of one family serialize here.
    -- The answer (purse lines, 128-UC, accumulators after the reversal) was worked out on
    -- the family as the reversal read it: when the family changed since (a claim, another
    -- reversal, in this batch or another gateway's), the reversal is read again (40001).
    IF p ? 'family_version' THEN
        UPDATE family SET version = version + 1
        WHERE family_id = p_family_id AND version = (p->>'family_version')::bigint;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'family state changed since the reversal read it'
                USING ERRCODE = '40001';
        END IF;
    ELSE
        UPDATE family SET version = version + 1 WHERE family_id = p_family_id;
    END IF;
    SELECT claim_id, entry_id INTO v_claim FROM claim
     WHERE family_id = p_family_id AND claim_id = (p->>'claim_id')::bigint;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no such claim in the family' USING ERRCODE = 'foreign_key_violation';
    END IF;
    SELECT r.response INTO v_response FROM claim_reversal r
     WHERE r.family_id = p_family_id AND r.claim_id = v_claim.claim_id;
    IF FOUND THEN
        RETURN jsonb_build_object('outcome', 'duplicate', 'response', v_response);
    END IF;

    INSERT INTO journal_entry (family_id, kind, reverses_entry_id)
    VALUES (p_family_id, 'reversal', v_claim.entry_id)
    RETURNING entry_id INTO v_entry_id;
    INSERT INTO posting (family_id, entry_id, account_key, amount_cents)
    SELECT p_family_id, v_entry_id, o.account_key, -o.amount_cents
    FROM posting o WHERE o.family_id = p_family_id AND o.entry_id = v_claim.entry_id
    ORDER BY o.posting_id;
    INSERT INTO claim_reversal (family_id, claim_id, entry_id, authorization_number, response)
    VALUES (p_family_id, v_claim.claim_id, v_entry_id, p->>'authorization_number', p->'response');

    FOR m IN SELECT s.purse_id, s.paid_cents FROM claim_purse_spend s
             WHERE s.family_id = p_family_id AND s.claim_id = v_claim.claim_id
             ORDER BY s.purse_id
    LOOP
        UPDATE purse SET posted_cents = posted_cents + m.paid_cents
        WHERE family_id = p_family_id AND purse_id = m.purse_id;
    END LOOP;
    -- The claim's rewards: each entry mirrored, each purse credit taken back. What the member
    -- has already spent of it (the purse holds less than the reward) is first recovered from
    -- the member, an entry of its own, so that the mirror is exact and no purse goes below zero:
    --     reward_recovery:{member}  -shortfall   the member owes it
    --     purse:{purse}             +shortfall
    FOR m IN SELECT cr.entry_id, cr.purse_id, cr.amount_cents, cr.member_id
             FROM claim_reward cr
             WHERE cr.family_id = p_family_id AND cr.claim_id = v_claim.claim_id
             ORDER BY cr.purse_id, cr.program_id
    LOOP
        SELECT posted_cents INTO v_held FROM purse
         WHERE family_id = p_family_id AND purse_id = m.purse_id;
        IF v_held < m.amount_cents THEN
            IF NOT EXISTS (SELECT 1 FROM account
                           WHERE account_key = 'reward_recovery:' || m.member_id) THEN
                INSERT INTO account (account_key, kind)
                VALUES ('reward_recovery:' || m.member_id, 'reward_recovery')
                ON CONFLICT DO NOTHING;
            END IF;
            INSERT INTO journal_entry (family_id, kind) VALUES (p_family_id, 'reward_recovery')
                RETURNING entry_id INTO v_reward_id;
            INSERT INTO posting (family_id, entry_id, account_key, amount_cents) VALUES
                (p_family_id, v_reward_id, 'reward_recovery:' || m.member_id,
                 v_held - m.amount_cents),
                (p_family_id, v_reward_id, 'purse:' || m.purse_id, m.amount_cents - v_held);
            UPDATE purse SET posted_cents = m.amount_cents
            WHERE family_id = p_family_id AND purse_id = m.purse_id;
        END IF;
        INSERT INTO journal_entry (family_id, kind, reverses_entry_id)
        VALUES (p_family_id, 'reversal', m.entry_id)
        RETURNING entry_id INTO v_reward_id;
        INSERT INTO posting (family_id, entry_id, account_key, amount_cents)
        SELECT p_family_id, v_reward_id, o.account_key, -o.amount_cents
        FROM posting o WHERE o.family_id = p_family_id AND o.entry_id = m.entry_id
        ORDER BY o.posting_id;
        UPDATE purse SET posted_cents = posted_cents - m.amount_cents
        WHERE family_id = p_family_id AND purse_id = m.purse_id;
    END LOOP;
    PERFORM rx_move_accumulators(
        p_family_id,
        v_entry_id,
        (SELECT coalesce(jsonb_agg(jsonb_build_object(
                    'level', am.level, 'subject_id', am.subject_id, 'plan_id', am.plan_id,
                    'plan_year_start', am.plan_year_start, 'kind', am.kind,
                    'amount', -am.amount_cents) ORDER BY am.move_id), '[]')
         FROM accumulator_move am
         WHERE am.family_id = p_family_id AND am.entry_id = v_claim.entry_id));

    INSERT INTO audit_log (family_id, actor, action, internal_control_number, outcome, detail)
    VALUES (p_family_id, p->>'actor', 'B2', p->'response'->>'internal_control_number', 'A',
            p->'audit');
    RETURN jsonb_build_object('outcome', 'posted');
END $$;
