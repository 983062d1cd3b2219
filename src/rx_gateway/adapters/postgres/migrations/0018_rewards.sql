-- 0018: rewards for lower-cost choices (issue 18, domain/rewards.py).
--
-- A plan's reward programs credit a member's purse when a paid fill makes a rewarded choice.
-- The reward is posted in the claim's one write (rx_post_claim), as its own balanced entry of
-- kind 'reward' that the function builds itself from the validated list p->'reward_moves'
-- ({program_id, purse_id, amount, plan_year_start}):
--     incentive_funding:{the purse's employer}  -amount
--     purse:{purse_id}                          +amount
-- The claim's own entry, purse moves and checks are unchanged: a claim still only spends
-- purses through purse_moves, and still posts no employer funding.
--
-- claim_reward: one row per reward (per family, append-only), what the member read counts
-- for a program's per-year cap (unreversed claims only) and what a reversal takes back:
-- rx_post_reversal mirrors each reward entry (a 'reversal' entry whose reverses_entry_id is
-- the reward's) and takes the credit back from the purse; what the member already spent of it
-- is recovered from the member first, an entry of kind 'reward_recovery':
--     reward_recovery:{member}  -S   what the member owes
--     purse:{purse_id}          +S

ALTER TABLE journal_entry DROP CONSTRAINT journal_entry_kind_check;
ALTER TABLE journal_entry ADD CONSTRAINT journal_entry_kind_check
    CHECK (kind IN ('claim', 'reversal', 'funding', 'reward', 'reward_recovery'));

CREATE TABLE claim_reward (
    family_id        text NOT NULL,
    claim_id         bigint NOT NULL,
    program_id       text NOT NULL CHECK (length(program_id) BETWEEN 1 AND 20),
    member_id        text NOT NULL,
    plan_year_start  date NOT NULL,
    purse_id         text NOT NULL,
    amount_cents     bigint NOT NULL CHECK (amount_cents > 0),
    entry_id         bigint NOT NULL,
    PRIMARY KEY (family_id, claim_id, program_id),
    FOREIGN KEY (family_id, claim_id) REFERENCES claim (family_id, claim_id),
    FOREIGN KEY (family_id, purse_id) REFERENCES purse (family_id, purse_id),
    FOREIGN KEY (family_id, entry_id) REFERENCES journal_entry (family_id, entry_id)
);
CREATE INDEX claim_reward_member ON claim_reward (family_id, member_id, plan_year_start);
CREATE TRIGGER claim_reward_append_only BEFORE UPDATE OR DELETE ON claim_reward
    FOR EACH ROW EXECUTE FUNCTION rx_refuse_history_change();
CREATE TRIGGER claim_reward_no_truncate BEFORE TRUNCATE ON claim_reward
    FOR EACH STATEMENT EXECUTE FUNCTION rx_refuse_history_change();

-- the sponsors' incentive accounts of existing purses (new ones: the loader, or the first reward)
INSERT INTO account (account_key, kind)
SELECT DISTINCT 'incentive_funding:' || employer_id, 'incentive_funding' FROM purse
ON CONFLICT DO NOTHING;

-- rx_post_claim: 0010's, with the reward moves.
CREATE OR REPLACE FUNCTION rx_post_claim(p_family_id text, p jsonb) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
    v_entry_id    bigint;
    v_claim_id    bigint;
    v_generation  int;
    v_existing    record;
    v_reward_id   bigint;
    m             record;
BEGIN
    UPDATE family SET version = version + 1
    WHERE family_id = p_family_id AND version = (p->>'family_version')::bigint;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'family state changed since it was read' USING ERRCODE = '40001';
    END IF;

    -- IMPORTANT: what a claim may not do, whatever the caller sends.
    IF NOT EXISTS (SELECT 1 FROM member
                   WHERE family_id = p_family_id AND member_id = p->>'member_id') THEN
        RAISE EXCEPTION 'the member is not in the family' USING ERRCODE = 'check_violation';
    END IF;
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
    IF EXISTS (SELECT 1 FROM jsonb_to_recordset(p->'accumulator_moves')
                             AS x(level text, subject_id text, amount bigint)
               WHERE x.amount IS NULL OR x.amount <= 0
                  OR NOT (x.level = 'individual' AND x.subject_id = p->>'member_id'
                          OR x.level = 'family' AND x.subject_id = p_family_id)) THEN
        RAISE EXCEPTION 'a claim only adds to its member''s and family''s accumulators'
            USING ERRCODE = 'check_violation';
    END IF;
    -- A reward credits a purse of the family, under a program, a positive amount, in an entry
    -- of its own that this function builds (the caller names no account): at most one per
    -- program per claim (claim_reward's key).
    IF EXISTS (SELECT 1 FROM jsonb_to_recordset(coalesce(p->'reward_moves', '[]'::jsonb))
                             AS x(program_id text, purse_id text, amount bigint,
                                  plan_year_start date)
               WHERE x.amount IS NULL OR x.amount <= 0 OR coalesce(x.program_id, '') = ''
                  OR x.plan_year_start IS NULL
                  OR NOT EXISTS (SELECT 1 FROM purse pu
                                 WHERE pu.family_id = p_family_id
                                   AND pu.purse_id = x.purse_id)) THEN
        RAISE EXCEPTION 'a reward only credits a purse of the family, under a program'
            USING ERRCODE = 'check_violation';
    END IF;

    SELECT c.claim_id, c.generation, c.request_hash, c.response,
           EXISTS (SELECT 1 FROM claim_reversal r
                   WHERE r.family_id = p_family_id AND r.claim_id = c.claim_id) AS reversed
      INTO v_existing
      FROM claim c WHERE c.family_id = p_family_id AND c.claim_key = p->>'claim_key'
     ORDER BY c.generation DESC LIMIT 1;
    IF FOUND AND NOT v_existing.reversed THEN
        RETURN jsonb_build_object('outcome', 'duplicate', 'claim_id', v_existing.claim_id,
                                  'request_hash', v_existing.request_hash,
                                  'response', v_existing.response);
    END IF;
    v_generation := coalesce(v_existing.generation, 0) + 1;

    IF jsonb_array_length(p->'purse_moves') > 0
       AND coalesce((p->>'releases_allotments')::boolean, true) THEN
        PERFORM rx_fund_purse(p_family_id, d.allotment_id, d.purse_id, d.amount_cents,
                              p->>'actor', 'allotment released: ' || d.memo)
        FROM rx_due_allotments(p_family_id, (p->>'date_of_service')::date) d;
    END IF;

    INSERT INTO journal_entry (family_id, kind) VALUES (p_family_id, 'claim')
        RETURNING entry_id INTO v_entry_id;
    INSERT INTO posting (family_id, entry_id, account_key, amount_cents)
    SELECT p_family_id, v_entry_id, x.account, x.amount
    FROM jsonb_to_recordset(p->'postings') AS x(account text, amount bigint);
    INSERT INTO claim (family_id, claim_key, generation, request_hash, internal_control_number,
                       authorization_number, member_id, plan_id, service_provider_id,
                       product_id, molecule, date_of_service, days_supply, quantity_thousandths,
                       entry_id, reference_data_version, response, gross_amount_due_cents)
    VALUES (p_family_id, p->>'claim_key', v_generation, p->>'request_hash',
            p->>'internal_control_number', p->>'authorization_number', p->>'member_id',
            p->>'plan_id', p->>'service_provider_id', p->>'product_id', p->>'molecule',
            (p->>'date_of_service')::date, (p->>'days_supply')::int,
            coalesce((p->>'quantity_thousandths')::bigint, 0), v_entry_id,
            p->>'reference_data_version', p->'response',
            (p->>'gross_amount_due_cents')::bigint)
    RETURNING claim_id INTO v_claim_id;
    INSERT INTO accumulator_move (family_id, entry_id, level, subject_id, plan_id,
                                  plan_year_start, kind, amount_cents)
    SELECT p_family_id, v_entry_id, x.level, x.subject_id, x.plan_id, x.plan_year_start, x.kind,
           x.amount
    FROM jsonb_to_recordset(p->'accumulator_moves')
         AS x(level text, subject_id text, plan_id text, plan_year_start date, kind text,
              amount bigint);
    INSERT INTO audit_log (family_id, actor, action, internal_control_number, outcome, detail)
    VALUES (p_family_id, p->>'actor', 'B1', p->>'internal_control_number', 'P', p->'audit');

    FOR m IN SELECT * FROM jsonb_to_recordset(p->'purse_moves') AS x(purse_id text, amount bigint)
             ORDER BY x.purse_id
    LOOP
        UPDATE purse SET posted_cents = posted_cents + m.amount
        WHERE family_id = p_family_id AND purse_id = m.purse_id
          AND posted_cents + m.amount >= 0;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'purse cannot pay' USING ERRCODE = '40001';
        END IF;
        INSERT INTO claim_purse_spend (family_id, claim_id, purse_id, date_of_service, paid_cents)
        VALUES (p_family_id, v_claim_id, m.purse_id, (p->>'date_of_service')::date, -m.amount);
    END LOOP;

    FOR m IN SELECT x.program_id, x.purse_id, x.amount, x.plan_year_start, pu.employer_id
             FROM jsonb_to_recordset(coalesce(p->'reward_moves', '[]'::jsonb))
                  AS x(program_id text, purse_id text, amount bigint, plan_year_start date)
             JOIN purse pu ON pu.family_id = p_family_id AND pu.purse_id = x.purse_id
             ORDER BY x.purse_id, x.program_id
    LOOP
        -- the loader creates the account; a sponsor enrolled later gets it here, once (a read
        -- of the reference table otherwise: no write to it on the claim path)
        IF NOT EXISTS (SELECT 1 FROM account
                       WHERE account_key = 'incentive_funding:' || m.employer_id) THEN
            INSERT INTO account (account_key, kind)
            VALUES ('incentive_funding:' || m.employer_id, 'incentive_funding')
            ON CONFLICT DO NOTHING;
        END IF;
        INSERT INTO journal_entry (family_id, kind) VALUES (p_family_id, 'reward')
            RETURNING entry_id INTO v_reward_id;
        INSERT INTO posting (family_id, entry_id, account_key, amount_cents) VALUES
            (p_family_id, v_reward_id, 'incentive_funding:' || m.employer_id, -m.amount),
            (p_family_id, v_reward_id, 'purse:' || m.purse_id, m.amount);
        UPDATE purse SET posted_cents = posted_cents + m.amount
        WHERE family_id = p_family_id AND purse_id = m.purse_id;
        INSERT INTO claim_reward (family_id, claim_id, program_id, member_id, plan_year_start,
                                  purse_id, amount_cents, entry_id)
        VALUES (p_family_id, v_claim_id, m.program_id, p->>'member_id', m.plan_year_start,
                m.purse_id, m.amount, v_reward_id);
    END LOOP;

    INSERT INTO accumulator AS a (family_id, level, subject_id, plan_id, plan_year_start, kind,
                                  amount_cents)
    SELECT p_family_id, x.level, x.subject_id, x.plan_id, x.plan_year_start, x.kind,
           sum(x.amount)
    FROM jsonb_to_recordset(p->'accumulator_moves')
         AS x(level text, subject_id text, plan_id text, plan_year_start date, kind text,
              amount bigint)
    GROUP BY 2, 3, 4, 5, 6
    ORDER BY 3, 2, 4, 5, 6
    ON CONFLICT (family_id, subject_id, level, plan_id, plan_year_start, kind)
    DO UPDATE SET amount_cents = a.amount_cents + EXCLUDED.amount_cents;

    RETURN jsonb_build_object('outcome', 'posted', 'claim_id', v_claim_id);
END $$;

-- rx_post_reversal: 0009's, with the rewards taken back.
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
    UPDATE family SET version = version + 1 WHERE family_id = p_family_id;
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

-- The member read counts a member's rewards (the application role reads; the functions write).
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'rx_gateway_app') THEN
        GRANT SELECT ON claim_reward TO rx_gateway_app;
    END IF;
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'rx_gateway_admin') THEN
        GRANT SELECT ON claim_reward TO rx_gateway_admin;
    END IF;
END $$;
