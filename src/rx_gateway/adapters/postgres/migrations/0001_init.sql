-- rx-gateway schema, version 1.
--
-- Money is bigint cents. History (journal entries, postings, claims, reversals, accumulator moves,
-- audit rows) is append-only: triggers refuse UPDATE, DELETE and TRUNCATE. The only rows updated
-- per claim are cold, per-family rows (family version, purse balance, accumulators); rows that
-- many members share (plan, employer funding, pharmacy payable accounts) are never updated on
-- the hot path: their balances are sums of postings.

-- ---------------------------------------------------------------- reference data
CREATE TABLE reference_version (
    version     bigserial PRIMARY KEY,
    loaded_at   timestamptz NOT NULL DEFAULT now(),
    source      text NOT NULL
);

CREATE TABLE plan (
    plan_id     text PRIMARY KEY,
    document    jsonb NOT NULL
);

CREATE TABLE drug (
    ndc                          text PRIMARY KEY CHECK (ndc ~ '^[0-9]{11}$'),
    name                         text NOT NULL,
    molecule                     text NOT NULL,
    drug_group                   text NOT NULL,
    is_brand                     boolean NOT NULL,
    generic_ndc                  text,
    is_specialty                 boolean NOT NULL,
    awp_unit_price_millicents    bigint NOT NULL CHECK (awp_unit_price_millicents > 0),
    wac_unit_price_millicents    bigint CHECK (wac_unit_price_millicents > 0),
    nadac_unit_price_millicents  bigint CHECK (nadac_unit_price_millicents > 0),
    mac_unit_price_millicents    bigint CHECK (mac_unit_price_millicents > 0)
);

CREATE TABLE formulary (
    plan_id                      text NOT NULL REFERENCES plan,
    ndc                          text NOT NULL REFERENCES drug,
    status                       text NOT NULL CHECK (status IN ('covered', 'excluded', 'non_formulary')),
    tier                         int NOT NULL CHECK (tier BETWEEN 1 AND 9),
    prior_authorization_required boolean NOT NULL DEFAULT false,
    quantity_limit_thousandths   bigint CHECK (quantity_limit_thousandths > 0),
    days_supply_max              int CHECK (days_supply_max > 0),
    PRIMARY KEY (plan_id, ndc)
);

CREATE TABLE pharmacy (
    npi      text PRIMARY KEY,
    name     text NOT NULL,
    network  text NOT NULL CHECK (network IN ('preferred', 'standard', 'out_of_network')),
    kind     text NOT NULL CHECK (kind IN ('retail', 'mail', 'specialty'))
);

-- ---------------------------------------------------------------- members
-- A family's version is bumped by every write that changes its state (claim, reversal,
-- funding): a claim computed on a stale read fails its write and is adjudicated again.
CREATE TABLE family (
    family_id    text PRIMARY KEY,
    employer_id  text NOT NULL,
    version      bigint NOT NULL DEFAULT 0
);

CREATE TABLE member (
    member_id      text PRIMARY KEY,
    cardholder_id  text NOT NULL,
    person_code    text NOT NULL,
    family_id      text NOT NULL REFERENCES family,
    employer_id    text NOT NULL,
    class_code     text NOT NULL,
    first_name     text NOT NULL,   -- PHI: never logged
    last_name      text NOT NULL,   -- PHI: never logged
    date_of_birth  date NOT NULL,   -- PHI: never logged
    gender_code    int NOT NULL CHECK (gender_code BETWEEN 0 AND 2),
    UNIQUE (cardholder_id, person_code)
);

CREATE TABLE coverage (
    member_id         text NOT NULL REFERENCES member,
    plan_id           text NOT NULL REFERENCES plan,
    group_id          text NOT NULL,
    start_date        date NOT NULL,
    end_date          date,
    end_reason        text CHECK (end_reason IN ('expired', 'terminated')),
    line_of_business  text NOT NULL,
    PRIMARY KEY (member_id, plan_id, start_date),
    CHECK (end_date IS NULL OR end_date >= start_date)
);

CREATE TABLE prior_authorization (
    pa_number   text PRIMARY KEY,
    member_id   text NOT NULL REFERENCES member,
    ndc         text,
    drug_group  text,
    start_date  date NOT NULL,
    end_date    date NOT NULL,
    CHECK (ndc IS NOT NULL OR drug_group IS NOT NULL)
);
CREATE INDEX prior_authorization_member ON prior_authorization (member_id);

-- A member purse (HRA, program dollars). balance_cents is the TigerBeetle-style counter of the
-- purse account's postings; the CHECK is the last line against an overdraft.
CREATE TABLE purse (
    purse_id       text PRIMARY KEY,
    family_id      text NOT NULL REFERENCES family,
    kind           text NOT NULL,
    employer_id    text NOT NULL,
    balance_cents  bigint NOT NULL DEFAULT 0 CHECK (balance_cents >= 0)
);
CREATE INDEX purse_family ON purse (family_id);

-- Each funding event once: a repeated `rx-gateway load` of the same funding file funds nothing.
CREATE TABLE purse_funding (
    funding_id    text PRIMARY KEY,
    purse_id      text NOT NULL REFERENCES purse,
    amount_cents  bigint NOT NULL CHECK (amount_cents > 0),
    entry_id      bigint NOT NULL,
    funded_at     timestamptz NOT NULL DEFAULT now()
);

-- ---------------------------------------------------------------- ledger
-- Accounts are keyed by text (plan:ID, purse:ID, employer_funding:ID, pharmacy_payable:NPI,
-- member_paid:ID, pharmacy_collected:NPI). postings.account_key deliberately has no foreign key:
-- a foreign key takes a KEY SHARE lock on the referenced row, and the plan and pharmacy accounts
-- are shared by every claim. `rx-gateway verify` checks that every posting names a known account.
CREATE TABLE account (
    account_key  text PRIMARY KEY,
    kind         text NOT NULL
);

CREATE TABLE journal_entry (
    entry_id           bigserial PRIMARY KEY,
    kind               text NOT NULL CHECK (kind IN ('claim', 'reversal', 'funding')),
    reverses_entry_id  bigint UNIQUE REFERENCES journal_entry,
    created_at         timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE posting (
    posting_id    bigserial PRIMARY KEY,
    entry_id      bigint NOT NULL REFERENCES journal_entry,
    account_key   text NOT NULL,
    amount_cents  bigint NOT NULL CHECK (amount_cents <> 0)
);
CREATE INDEX posting_entry ON posting (entry_id);
CREATE INDEX posting_account ON posting (account_key);

CREATE TABLE claim (
    claim_id                  bigserial PRIMARY KEY,
    claim_key                 text NOT NULL,
    generation                int NOT NULL CHECK (generation > 0),
    request_hash              text NOT NULL,
    internal_control_number   text NOT NULL UNIQUE,
    authorization_number      text NOT NULL,
    member_id                 text NOT NULL,
    family_id                 text NOT NULL,
    plan_id                   text NOT NULL,
    pharmacy_npi              text NOT NULL,
    product_id                text NOT NULL,
    molecule                  text NOT NULL,
    date_of_service           date NOT NULL,
    days_supply               int NOT NULL,
    entry_id                  bigint NOT NULL UNIQUE REFERENCES journal_entry,
    reference_version         text NOT NULL,
    response                  jsonb NOT NULL,
    created_at                timestamptz NOT NULL DEFAULT now(),
    UNIQUE (claim_key, generation)
);
CREATE INDEX claim_member_date ON claim (member_id, date_of_service);

CREATE TABLE claim_reversal (
    claim_id              bigint PRIMARY KEY REFERENCES claim,
    entry_id              bigint NOT NULL UNIQUE REFERENCES journal_entry,
    authorization_number  text NOT NULL,
    response              jsonb NOT NULL,
    created_at            timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE accumulator (
    level            text NOT NULL CHECK (level IN ('individual', 'family')),
    subject_id       text NOT NULL,
    plan_id          text NOT NULL,
    plan_year_start  date NOT NULL,
    kind             text NOT NULL CHECK (kind IN ('deductible', 'out_of_pocket')),
    amount_cents     bigint NOT NULL CHECK (amount_cents >= 0),
    PRIMARY KEY (subject_id, level, plan_id, plan_year_start, kind)
);

CREATE TABLE accumulator_move (
    move_id          bigserial PRIMARY KEY,
    entry_id         bigint NOT NULL REFERENCES journal_entry,
    level            text NOT NULL,
    subject_id       text NOT NULL,
    plan_id          text NOT NULL,
    plan_year_start  date NOT NULL,
    kind             text NOT NULL,
    amount_cents     bigint NOT NULL CHECK (amount_cents <> 0)
);
CREATE INDEX accumulator_move_entry ON accumulator_move (entry_id);

-- Every adjudication, reversal and data change, with who, what and when. No PHI: claims are
-- named by their internal control number.
CREATE TABLE audit_log (
    audit_id         bigserial PRIMARY KEY,
    occurred_at      timestamptz NOT NULL DEFAULT now(),
    actor            text NOT NULL,
    action           text NOT NULL,
    claim_reference  text,
    outcome          text NOT NULL,
    detail           jsonb NOT NULL DEFAULT '{}'
);

-- ---------------------------------------------------------------- invariants in the database
-- The second balance check (the first is JournalEntry in Python): after each INSERT statement
-- into posting, every entry it touched must sum to zero.
CREATE FUNCTION rx_check_entries_balance() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    bad bigint;
BEGIN
    SELECT p.entry_id INTO bad
    FROM posting p
    WHERE p.entry_id IN (SELECT DISTINCT entry_id FROM new_postings)
    GROUP BY p.entry_id
    HAVING sum(p.amount_cents) <> 0
    LIMIT 1;
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION 'journal entry % does not balance', bad USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER posting_balance AFTER INSERT ON posting
    REFERENCING NEW TABLE AS new_postings
    FOR EACH STATEMENT EXECUTE FUNCTION rx_check_entries_balance();

CREATE FUNCTION rx_refuse_history_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$;

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['journal_entry', 'posting', 'claim', 'claim_reversal',
                             'accumulator_move', 'audit_log', 'purse_funding']
    LOOP
        EXECUTE format('CREATE TRIGGER %I BEFORE UPDATE OR DELETE ON %I FOR EACH ROW '
                       'EXECUTE FUNCTION rx_refuse_history_change()', t || '_append_only', t);
        EXECUTE format('CREATE TRIGGER %I BEFORE TRUNCATE ON %I FOR EACH STATEMENT '
                       'EXECUTE FUNCTION rx_refuse_history_change()', t || '_no_truncate', t);
    END LOOP;
END $$;

-- ---------------------------------------------------------------- the hot path: one read
-- Everything a claim needs about its member, in one round trip and one snapshot: the member,
-- coverage spans, family version, accumulators, purses, recent fills, prior authorizations,
-- and the latest claim under the same claim key (for duplicates).
CREATE FUNCTION rx_member_state(p_cardholder_id text, p_person_code text, p_date_of_service date,
                                p_claim_key text)
RETURNS jsonb LANGUAGE sql STABLE AS $$
    WITH m AS (
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
                        'balance_cents', pu.balance_cents) ORDER BY pu.purse_id), '[]')
                   FROM purse pu JOIN m USING (family_id)),
        'fills', (SELECT coalesce(jsonb_agg(jsonb_build_object(
                        'molecule', c.molecule, 'date_of_service', c.date_of_service,
                        'days_supply', c.days_supply)), '[]')
                  FROM claim c JOIN m USING (member_id)
                  WHERE c.date_of_service BETWEEN p_date_of_service - 400 AND p_date_of_service
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
    )
$$;

-- ---------------------------------------------------------------- the hot path: one write
-- A paid claim in one call: family version check, duplicate check, journal entry and postings,
-- claim row with its response, purse balances, accumulators and their moves, audit row.
-- Returns {"outcome": "posted", "claim_id": n} or {"outcome": "duplicate", ...}; raises 40001
-- when the family changed since the read (the caller adjudicates again).
CREATE FUNCTION rx_post_claim(p jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
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

    INSERT INTO journal_entry (kind) VALUES ('claim') RETURNING entry_id INTO v_entry_id;
    INSERT INTO posting (entry_id, account_key, amount_cents)
        SELECT v_entry_id, x.account, x.amount
        FROM jsonb_to_recordset(p->'postings') AS x(account text, amount bigint);

    INSERT INTO claim (claim_key, generation, request_hash, internal_control_number,
                       authorization_number, member_id, family_id, plan_id, pharmacy_npi,
                       product_id, molecule, date_of_service, days_supply, entry_id,
                       reference_version, response)
    VALUES (p->>'claim_key', v_generation, p->>'request_hash', p->>'internal_control_number',
            p->>'authorization_number', p->>'member_id', p->>'family_id', p->>'plan_id',
            p->>'pharmacy_npi', p->>'product_id', p->>'molecule',
            (p->>'date_of_service')::date, (p->>'days_supply')::int, v_entry_id,
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

-- Apply accumulator moves and log them. The CHECK (amount >= 0) is evaluated on a proposed
-- INSERT row before ON CONFLICT applies, so missing rows are created at zero first and then
-- every row is moved by an UPDATE.
CREATE FUNCTION rx_move_accumulators(p_entry_id bigint, p_moves jsonb) RETURNS void
LANGUAGE sql AS $$
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
$$;

-- ---------------------------------------------------------------- reversal
-- The latest claim under a key, with what a reversal must mirror.
CREATE FUNCTION rx_claim_for_reversal(p_claim_key text) RETURNS jsonb LANGUAGE sql STABLE AS $$
    WITH c AS (
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
    FROM c
$$;

CREATE FUNCTION rx_post_reversal(p jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    v_entry_id  bigint;
    v_original  bigint;
    v_response  jsonb;
    m           record;
BEGIN
    -- Lock the family first: reversals and claims of one family are serialized here.
    UPDATE family SET version = version + 1 WHERE family_id = p->>'family_id';
    SELECT r.response INTO v_response FROM claim_reversal r
     WHERE r.claim_id = (p->>'claim_id')::bigint;
    IF FOUND THEN
        RETURN jsonb_build_object('outcome', 'duplicate', 'response', v_response);
    END IF;
    SELECT entry_id INTO v_original FROM claim WHERE claim_id = (p->>'claim_id')::bigint;

    INSERT INTO journal_entry (kind, reverses_entry_id) VALUES ('reversal', v_original)
        RETURNING entry_id INTO v_entry_id;
    INSERT INTO posting (entry_id, account_key, amount_cents)
        SELECT v_entry_id, x.account, x.amount
        FROM jsonb_to_recordset(p->'postings') AS x(account text, amount bigint);
    INSERT INTO claim_reversal (claim_id, entry_id, authorization_number, response)
    VALUES ((p->>'claim_id')::bigint, v_entry_id, p->>'authorization_number', p->'response');

    FOR m IN SELECT * FROM jsonb_to_recordset(p->'purse_moves') AS x(purse_id text, amount bigint)
    LOOP
        UPDATE purse SET balance_cents = balance_cents + m.amount WHERE purse_id = m.purse_id;
    END LOOP;
    PERFORM rx_move_accumulators(v_entry_id, p->'accumulator_moves');

    INSERT INTO audit_log (actor, action, claim_reference, outcome, detail)
    VALUES (p->>'actor', 'B2', p->'response'->>'internal_control_number', 'A', p->'audit');
    RETURN jsonb_build_object('outcome', 'posted');
END $$;

-- ---------------------------------------------------------------- purse funding
-- Employer money moves into a member purse: employer_funding −X, purse +X.
-- Returns the entry, or NULL when this funding_id was already applied.
CREATE FUNCTION rx_fund_purse(p_funding_id text, p_purse_id text, p_amount_cents bigint,
                              p_actor text, p_memo text)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    v_entry_id  bigint;
    v_purse     record;
BEGIN
    IF EXISTS (SELECT 1 FROM purse_funding WHERE funding_id = p_funding_id) THEN
        RETURN NULL;
    END IF;
    IF p_amount_cents <= 0 THEN
        RAISE EXCEPTION 'funding must be positive' USING ERRCODE = 'check_violation';
    END IF;
    UPDATE purse SET balance_cents = balance_cents + p_amount_cents
     WHERE purse_id = p_purse_id RETURNING * INTO v_purse;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown purse %', p_purse_id USING ERRCODE = 'foreign_key_violation';
    END IF;
    UPDATE family SET version = version + 1 WHERE family_id = v_purse.family_id;
    INSERT INTO journal_entry (kind) VALUES ('funding') RETURNING entry_id INTO v_entry_id;
    INSERT INTO posting (entry_id, account_key, amount_cents) VALUES
        (v_entry_id, 'employer_funding:' || v_purse.employer_id, -p_amount_cents),
        (v_entry_id, 'purse:' || p_purse_id, p_amount_cents);
    INSERT INTO purse_funding (funding_id, purse_id, amount_cents, entry_id)
    VALUES (p_funding_id, p_purse_id, p_amount_cents, v_entry_id);
    INSERT INTO audit_log (actor, action, outcome, detail)
    VALUES (p_actor, 'fund_purse', 'ok',
            jsonb_build_object('funding_id', p_funding_id, 'purse_id', p_purse_id,
                               'amount_cents', p_amount_cents,
                               'memo', p_memo));
    RETURN v_entry_id;
END $$;
