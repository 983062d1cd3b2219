-- Family first (issue 13), and one name per thing (issue 12).
--
-- Every claim touches exactly one family: its members, coverage, authorizations, purses,
-- accumulators, claims, journal entries and postings, audit rows. Each of those tables now
-- carries family_id, first in its primary key and in every unique key, and every foreign key
-- between two of them is composite (family_id, ...). The hot-path functions take the family as
-- their first plain parameter and filter every statement by it. On one PostgreSQL nothing else
-- changes; on Citus the family becomes the distribution column and a claim a single-shard
-- transaction (`rx-gateway citus distribute`, distribute.sql).
--
-- Identities that were unique across the whole database and are now unique per family:
--   * (cardholder ID, person code) and member ID: kept unique by member_key, the directory the
--     claim path reads to find a member's family (a reference table on Citus);
--   * purse ID and prior authorization number: kept unique by the loader and the admin
--     interface, which look them up across families before writing;
--   * the claim key and the internal control number: unique within the family (the claim path
--     resolves the family before it reads or writes); across families the claim key is checked
--     by `rx-gateway verify`, and the control number is 96 random bits.
--
-- Renamed (one name per thing): purse.balance_cents -> posted_cents (what the ledger holds;
-- "available" adds allotments already due), claim.pharmacy_npi -> service_provider_id (201-B1),
-- claim.reference_version -> reference_data_version, audit_log.claim_reference ->
-- internal_control_number (993-A7).

ALTER TABLE purse RENAME COLUMN balance_cents TO posted_cents;
ALTER TABLE purse RENAME CONSTRAINT purse_balance_cents_check TO purse_posted_cents_check;
ALTER TABLE claim RENAME COLUMN pharmacy_npi TO service_provider_id;
ALTER TABLE claim RENAME COLUMN reference_version TO reference_data_version;
ALTER TABLE audit_log RENAME COLUMN claim_reference TO internal_control_number;

-- ---------------------------------------------------------------- the directory
-- Who is on which card, in which family. The claim path reads it to find the family before
-- anything else (patient matching without a person code reads it too); the loader and the
-- admin interface write it with the member.
CREATE TABLE member_key (
    cardholder_id  text NOT NULL,
    person_code    text NOT NULL,
    member_id      text NOT NULL UNIQUE,
    family_id      text NOT NULL,
    date_of_birth  date NOT NULL,   -- PHI: never logged
    gender_code    int NOT NULL,
    PRIMARY KEY (cardholder_id, person_code)
);
INSERT INTO member_key (cardholder_id, person_code, member_id, family_id, date_of_birth, gender_code)
SELECT cardholder_id, person_code, member_id, family_id, date_of_birth, gender_code FROM member;

-- ---------------------------------------------------------------- family_id everywhere
-- History refuses UPDATE by trigger: the backfill of the new column runs with those triggers
-- off, inside this migration's transaction.
DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['journal_entry', 'posting', 'claim_reversal', 'accumulator_move',
                             'audit_log', 'purse_funding', 'purse_allotment']
    LOOP
        EXECUTE format('ALTER TABLE %I DISABLE TRIGGER %I', t, t || '_append_only');
    END LOOP;
END $$;

ALTER TABLE coverage ADD COLUMN family_id text;
UPDATE coverage c SET family_id = m.family_id FROM member m WHERE m.member_id = c.member_id;
ALTER TABLE prior_authorization ADD COLUMN family_id text;
UPDATE prior_authorization a SET family_id = m.family_id FROM member m WHERE m.member_id = a.member_id;
ALTER TABLE purse_funding ADD COLUMN family_id text;
UPDATE purse_funding f SET family_id = p.family_id FROM purse p WHERE p.purse_id = f.purse_id;
ALTER TABLE purse_allotment ADD COLUMN family_id text;
UPDATE purse_allotment a SET family_id = p.family_id FROM purse p WHERE p.purse_id = a.purse_id;
ALTER TABLE journal_entry ADD COLUMN family_id text;
UPDATE journal_entry e SET family_id = c.family_id FROM claim c WHERE c.entry_id = e.entry_id;
UPDATE journal_entry e SET family_id = c.family_id
FROM claim_reversal r JOIN claim c USING (claim_id) WHERE r.entry_id = e.entry_id;
UPDATE journal_entry e SET family_id = f.family_id FROM purse_funding f WHERE f.entry_id = e.entry_id;
ALTER TABLE posting ADD COLUMN family_id text;
UPDATE posting p SET family_id = e.family_id FROM journal_entry e WHERE e.entry_id = p.entry_id;
ALTER TABLE claim_reversal ADD COLUMN family_id text;
UPDATE claim_reversal r SET family_id = c.family_id FROM claim c WHERE c.claim_id = r.claim_id;
ALTER TABLE accumulator ADD COLUMN family_id text;
UPDATE accumulator a SET family_id = a.subject_id WHERE a.level = 'family';
UPDATE accumulator a SET family_id = m.family_id
FROM member m WHERE a.level = 'individual' AND m.member_id = a.subject_id;
ALTER TABLE accumulator_move ADD COLUMN family_id text;
UPDATE accumulator_move m SET family_id = e.family_id FROM journal_entry e WHERE e.entry_id = m.entry_id;
-- Audit rows that concern no family (a syntax reject, an unknown cardholder, a load) say ''.
ALTER TABLE audit_log ADD COLUMN family_id text NOT NULL DEFAULT '';
UPDATE audit_log a SET family_id = c.family_id
FROM claim c WHERE c.internal_control_number = a.internal_control_number;

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['coverage', 'prior_authorization', 'purse_funding', 'purse_allotment',
                             'journal_entry', 'posting', 'claim_reversal', 'accumulator',
                             'accumulator_move']
    LOOP
        EXECUTE format('ALTER TABLE %I ALTER COLUMN family_id SET NOT NULL', t);
    END LOOP;
    FOREACH t IN ARRAY ARRAY['journal_entry', 'posting', 'claim_reversal', 'accumulator_move',
                             'audit_log', 'purse_funding', 'purse_allotment']
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE TRIGGER %I', t, t || '_append_only');
    END LOOP;
END $$;

-- ---------------------------------------------------------------- keys: family first
ALTER TABLE member DROP CONSTRAINT member_family_id_fkey;
ALTER TABLE coverage DROP CONSTRAINT coverage_member_id_fkey;
ALTER TABLE coverage DROP CONSTRAINT coverage_plan_id_fkey;
ALTER TABLE prior_authorization DROP CONSTRAINT prior_authorization_member_id_fkey;
ALTER TABLE purse DROP CONSTRAINT purse_family_id_fkey;
ALTER TABLE purse_funding DROP CONSTRAINT purse_funding_purse_id_fkey;
ALTER TABLE purse_allotment DROP CONSTRAINT purse_allotment_purse_id_fkey;
ALTER TABLE journal_entry DROP CONSTRAINT journal_entry_reverses_entry_id_fkey;
ALTER TABLE posting DROP CONSTRAINT posting_entry_id_fkey;
ALTER TABLE claim DROP CONSTRAINT claim_entry_id_fkey;
ALTER TABLE claim_reversal DROP CONSTRAINT claim_reversal_claim_id_fkey;
ALTER TABLE claim_reversal DROP CONSTRAINT claim_reversal_entry_id_fkey;
ALTER TABLE accumulator_move DROP CONSTRAINT accumulator_move_entry_id_fkey;
ALTER TABLE claim_purse_spend DROP CONSTRAINT claim_purse_spend_claim_id_fkey;

ALTER TABLE member DROP CONSTRAINT member_cardholder_id_person_code_key;
ALTER TABLE journal_entry DROP CONSTRAINT journal_entry_reverses_entry_id_key;
ALTER TABLE claim DROP CONSTRAINT claim_claim_key_generation_key;
ALTER TABLE claim DROP CONSTRAINT claim_entry_id_key;
ALTER TABLE claim DROP CONSTRAINT claim_internal_control_number_key;
ALTER TABLE claim_reversal DROP CONSTRAINT claim_reversal_entry_id_key;

ALTER TABLE member DROP CONSTRAINT member_pkey;
ALTER TABLE coverage DROP CONSTRAINT coverage_pkey;
ALTER TABLE prior_authorization DROP CONSTRAINT prior_authorization_pkey;
ALTER TABLE purse DROP CONSTRAINT purse_pkey;
ALTER TABLE purse_funding DROP CONSTRAINT purse_funding_pkey;
ALTER TABLE purse_allotment DROP CONSTRAINT purse_allotment_pkey;
ALTER TABLE journal_entry DROP CONSTRAINT journal_entry_pkey;
ALTER TABLE posting DROP CONSTRAINT posting_pkey;
ALTER TABLE claim DROP CONSTRAINT claim_pkey;
ALTER TABLE claim_reversal DROP CONSTRAINT claim_reversal_pkey;
ALTER TABLE claim_purse_spend DROP CONSTRAINT claim_purse_spend_pkey;
ALTER TABLE accumulator DROP CONSTRAINT accumulator_pkey;
ALTER TABLE accumulator_move DROP CONSTRAINT accumulator_move_pkey;
ALTER TABLE audit_log DROP CONSTRAINT audit_log_pkey;

DROP INDEX prior_authorization_member;
DROP INDEX purse_family;
DROP INDEX purse_allotment_purse;
DROP INDEX posting_entry;
DROP INDEX claim_member_date;
DROP INDEX accumulator_move_entry;
DROP INDEX claim_purse_spend_family_date;

ALTER TABLE member ADD PRIMARY KEY (family_id, member_id);
ALTER TABLE member ADD CONSTRAINT member_card UNIQUE (family_id, cardholder_id, person_code);
ALTER TABLE member ADD CONSTRAINT member_family_fkey FOREIGN KEY (family_id) REFERENCES family;

ALTER TABLE coverage ADD PRIMARY KEY (family_id, member_id, plan_id, start_date);
ALTER TABLE coverage ADD CONSTRAINT coverage_member_fkey
    FOREIGN KEY (family_id, member_id) REFERENCES member (family_id, member_id);
-- a per-family table's key to reference data (distribute.sql drops and re-adds it around the
-- distribution: Citus turns a table linked to a reference table into a local one)
ALTER TABLE coverage ADD CONSTRAINT coverage_plan_fkey FOREIGN KEY (plan_id) REFERENCES plan;

ALTER TABLE prior_authorization ADD PRIMARY KEY (family_id, pa_number);
ALTER TABLE prior_authorization ADD CONSTRAINT prior_authorization_member_fkey
    FOREIGN KEY (family_id, member_id) REFERENCES member (family_id, member_id);
CREATE INDEX prior_authorization_member ON prior_authorization (family_id, member_id);

ALTER TABLE purse ADD PRIMARY KEY (family_id, purse_id);
ALTER TABLE purse ADD CONSTRAINT purse_family_fkey FOREIGN KEY (family_id) REFERENCES family;

ALTER TABLE journal_entry ADD PRIMARY KEY (family_id, entry_id);
ALTER TABLE journal_entry ADD CONSTRAINT journal_entry_reverses
    UNIQUE (family_id, reverses_entry_id);
ALTER TABLE journal_entry ADD CONSTRAINT journal_entry_reverses_fkey
    FOREIGN KEY (family_id, reverses_entry_id) REFERENCES journal_entry (family_id, entry_id);

ALTER TABLE posting ADD PRIMARY KEY (family_id, posting_id);
ALTER TABLE posting ADD CONSTRAINT posting_entry_fkey
    FOREIGN KEY (family_id, entry_id) REFERENCES journal_entry (family_id, entry_id);
CREATE INDEX posting_entry ON posting (family_id, entry_id);

ALTER TABLE purse_funding ADD PRIMARY KEY (family_id, funding_id);
ALTER TABLE purse_funding ADD CONSTRAINT purse_funding_purse_fkey
    FOREIGN KEY (family_id, purse_id) REFERENCES purse (family_id, purse_id);
ALTER TABLE purse_funding ADD CONSTRAINT purse_funding_entry_fkey
    FOREIGN KEY (family_id, entry_id) REFERENCES journal_entry (family_id, entry_id);

ALTER TABLE purse_allotment ADD PRIMARY KEY (family_id, allotment_id);
ALTER TABLE purse_allotment ADD CONSTRAINT purse_allotment_purse_fkey
    FOREIGN KEY (family_id, purse_id) REFERENCES purse (family_id, purse_id);

ALTER TABLE claim ADD PRIMARY KEY (family_id, claim_id);
ALTER TABLE claim ADD CONSTRAINT claim_key_generation UNIQUE (family_id, claim_key, generation);
ALTER TABLE claim ADD CONSTRAINT claim_internal_control_number
    UNIQUE (family_id, internal_control_number);
ALTER TABLE claim ADD CONSTRAINT claim_entry UNIQUE (family_id, entry_id);
ALTER TABLE claim ADD CONSTRAINT claim_entry_fkey
    FOREIGN KEY (family_id, entry_id) REFERENCES journal_entry (family_id, entry_id);
ALTER TABLE claim ADD CONSTRAINT claim_family_fkey FOREIGN KEY (family_id) REFERENCES family;
CREATE INDEX claim_member_date ON claim (family_id, member_id, date_of_service);
-- a B2 that names no patient finds its claim by key (on Citus: on every shard; rare)
CREATE INDEX claim_key_lookup ON claim (claim_key);

ALTER TABLE claim_reversal ADD PRIMARY KEY (family_id, claim_id);
ALTER TABLE claim_reversal ADD CONSTRAINT claim_reversal_claim_fkey
    FOREIGN KEY (family_id, claim_id) REFERENCES claim (family_id, claim_id);
ALTER TABLE claim_reversal ADD CONSTRAINT claim_reversal_entry UNIQUE (family_id, entry_id);
ALTER TABLE claim_reversal ADD CONSTRAINT claim_reversal_entry_fkey
    FOREIGN KEY (family_id, entry_id) REFERENCES journal_entry (family_id, entry_id);

ALTER TABLE claim_purse_spend ADD PRIMARY KEY (family_id, claim_id, purse_id);
ALTER TABLE claim_purse_spend ADD CONSTRAINT claim_purse_spend_claim_fkey
    FOREIGN KEY (family_id, claim_id) REFERENCES claim (family_id, claim_id);
CREATE INDEX claim_purse_spend_family_date ON claim_purse_spend (family_id, date_of_service);

ALTER TABLE accumulator ADD PRIMARY KEY (family_id, subject_id, level, plan_id, plan_year_start, kind);

ALTER TABLE accumulator_move ADD PRIMARY KEY (family_id, move_id);
ALTER TABLE accumulator_move ADD CONSTRAINT accumulator_move_entry_fkey
    FOREIGN KEY (family_id, entry_id) REFERENCES journal_entry (family_id, entry_id);
CREATE INDEX accumulator_move_entry ON accumulator_move (family_id, entry_id);

ALTER TABLE audit_log ADD PRIMARY KEY (family_id, audit_id);

-- ---------------------------------------------------------------- invariants
-- The balance check reads the inserted postings alone (Citus cannot join a transition table
-- with the table it belongs to): every entry inserted by one statement must balance within
-- it. The gateway inserts each entry's postings in one statement, always.
CREATE OR REPLACE FUNCTION rx_check_entries_balance() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    bad bigint;
BEGIN
    SELECT n.entry_id INTO bad FROM new_postings n
    GROUP BY n.family_id, n.entry_id HAVING sum(n.amount_cents) <> 0 LIMIT 1;
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION 'journal entry % does not balance', bad USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END $$;

-- ---------------------------------------------------------------- the functions, family first
DROP FUNCTION rx_post_claim(jsonb);
DROP FUNCTION rx_post_reversal(jsonb);
DROP FUNCTION rx_claim_for_reversal(text);
DROP FUNCTION rx_fund_purse(text, text, bigint, text, text);
DROP FUNCTION rx_schedule_allotment(text, text, bigint, date, text, text);
DROP FUNCTION rx_due_allotments(text, date);
DROP FUNCTION rx_move_accumulators(bigint, jsonb);

-- Allotments of a family's purses that are due on a date and not yet funded.
CREATE FUNCTION rx_due_allotments(p_family_id text, p_date date)
RETURNS TABLE (allotment_id text, purse_id text, amount_cents bigint, memo text)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, public, pg_temp AS $$
BEGIN
    RETURN QUERY
    SELECT a.allotment_id, a.purse_id, a.amount_cents, a.memo
    FROM purse_allotment a
    WHERE a.family_id = p_family_id AND a.available_on <= p_date
      AND NOT EXISTS (SELECT 1 FROM purse_funding f
                      WHERE f.family_id = p_family_id AND f.funding_id = a.allotment_id)
    ORDER BY a.available_on, a.allotment_id;
END $$;

-- Employer money into a purse: employer_funding -X, purse +X. NULL when this funding ID was
-- already applied. The family row is locked first, as every claim and reversal does.
CREATE FUNCTION rx_fund_purse(p_family_id text, p_funding_id text, p_purse_id text,
                              p_amount_cents bigint, p_actor text, p_memo text)
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp
AS $$
DECLARE
    v_entry_id  bigint;
    v_employer  text;
BEGIN
    IF p_amount_cents <= 0 THEN
        RAISE EXCEPTION 'funding must be positive' USING ERRCODE = 'check_violation';
    END IF;
    SELECT employer_id INTO v_employer FROM purse
     WHERE family_id = p_family_id AND purse_id = p_purse_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown purse' USING ERRCODE = 'foreign_key_violation';
    END IF;
    UPDATE family SET version = version + 1 WHERE family_id = p_family_id;
    IF EXISTS (SELECT 1 FROM purse_funding
               WHERE family_id = p_family_id AND funding_id = p_funding_id) THEN
        RETURN NULL;
    END IF;
    UPDATE purse SET posted_cents = posted_cents + p_amount_cents
     WHERE family_id = p_family_id AND purse_id = p_purse_id;
    INSERT INTO journal_entry (family_id, kind) VALUES (p_family_id, 'funding')
        RETURNING entry_id INTO v_entry_id;
    INSERT INTO posting (family_id, entry_id, account_key, amount_cents) VALUES
        (p_family_id, v_entry_id, 'employer_funding:' || v_employer, -p_amount_cents),
        (p_family_id, v_entry_id, 'purse:' || p_purse_id, p_amount_cents);
    INSERT INTO purse_funding (family_id, funding_id, purse_id, amount_cents, entry_id)
    VALUES (p_family_id, p_funding_id, p_purse_id, p_amount_cents, v_entry_id);
    INSERT INTO audit_log (family_id, actor, action, outcome, detail)
    VALUES (p_family_id, p_actor, 'fund_purse', 'ok',
            jsonb_build_object('funding_id', p_funding_id, 'purse_id', p_purse_id,
                               'amount_cents', p_amount_cents, 'memo', p_memo));
    RETURN v_entry_id;
END $$;

-- Schedule an allotment (idempotent by ID within the family). True when it was new.
CREATE FUNCTION rx_schedule_allotment(p_family_id text, p_allotment_id text, p_purse_id text,
                                      p_amount_cents bigint, p_available_on date,
                                      p_actor text, p_memo text)
RETURNS boolean LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp
AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM purse WHERE family_id = p_family_id AND purse_id = p_purse_id) THEN
        RAISE EXCEPTION 'unknown purse' USING ERRCODE = 'foreign_key_violation';
    END IF;
    INSERT INTO purse_allotment (family_id, allotment_id, purse_id, amount_cents, available_on, memo)
    VALUES (p_family_id, p_allotment_id, p_purse_id, p_amount_cents, p_available_on, p_memo)
    ON CONFLICT (family_id, allotment_id) DO NOTHING;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    INSERT INTO audit_log (family_id, actor, action, outcome, detail)
    VALUES (p_family_id, p_actor, 'schedule_allotment', 'ok',
            jsonb_build_object('allotment_id', p_allotment_id, 'purse_id', p_purse_id,
                               'amount_cents', p_amount_cents, 'available_on', p_available_on,
                               'memo', p_memo));
    RETURN true;
END $$;

-- Apply accumulator moves (a reversal's, which subtract) and log them, in key order.
CREATE FUNCTION rx_move_accumulators(p_family_id text, p_entry_id bigint, p_moves jsonb)
RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
    m record;
BEGIN
    INSERT INTO accumulator_move (family_id, entry_id, level, subject_id, plan_id,
                                  plan_year_start, kind, amount_cents)
    SELECT p_family_id, p_entry_id, x.level, x.subject_id, x.plan_id, x.plan_year_start, x.kind,
           x.amount
    FROM jsonb_to_recordset(p_moves) AS x(level text, subject_id text, plan_id text,
                                          plan_year_start date, kind text, amount bigint);
    FOR m IN SELECT x.subject_id, x.level, x.plan_id, x.plan_year_start, x.kind,
                    sum(x.amount) AS total
             FROM jsonb_to_recordset(p_moves) AS x(level text, subject_id text, plan_id text,
                                                   plan_year_start date, kind text, amount bigint)
             GROUP BY 1, 2, 3, 4, 5
             ORDER BY 1, 2, 3, 4, 5
    LOOP
        UPDATE accumulator SET amount_cents = amount_cents + m.total
        WHERE family_id = p_family_id AND subject_id = m.subject_id AND level = m.level
          AND plan_id = m.plan_id AND plan_year_start = m.plan_year_start AND kind = m.kind;
        IF NOT FOUND THEN
            INSERT INTO accumulator (family_id, level, subject_id, plan_id, plan_year_start, kind,
                                     amount_cents)
            VALUES (p_family_id, m.level, m.subject_id, m.plan_id, m.plan_year_start, m.kind,
                    m.total);
        END IF;
    END LOOP;
END $$;

-- The hot-path write: 0008's, family first, with plain statements (Citus splits a chain of
-- data-modifying CTEs into coordinator-routed steps), and two more checks: the claim's member
-- belongs to the family, and its accumulator moves are the member's and the family's.
CREATE FUNCTION rx_post_claim(p_family_id text, p jsonb) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
    v_entry_id    bigint;
    v_claim_id    bigint;
    v_generation  int;
    v_existing    record;
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
                       entry_id, reference_data_version, response)
    VALUES (p_family_id, p->>'claim_key', v_generation, p->>'request_hash',
            p->>'internal_control_number', p->>'authorization_number', p->>'member_id',
            p->>'plan_id', p->>'service_provider_id', p->>'product_id', p->>'molecule',
            (p->>'date_of_service')::date, (p->>'days_supply')::int,
            coalesce((p->>'quantity_thousandths')::bigint, 0), v_entry_id,
            p->>'reference_data_version', p->'response')
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

-- The latest claim of the family under a key, with what a reversal cross-checks and mirrors.
CREATE FUNCTION rx_claim_for_reversal(p_family_id text, p_claim_key text) RETURNS jsonb
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
                           AND a.plan_year_start = (c.response->'accumulators'->>'plan_year')::date))
    FROM c LEFT JOIN member mb ON mb.family_id = p_family_id AND mb.member_id = c.member_id);
END $$;

-- A reversal, mirrored from the ledger itself (as 0008's), family first.
CREATE FUNCTION rx_post_reversal(p_family_id text, p jsonb) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
    v_entry_id  bigint;
    v_claim     record;
    v_response  jsonb;
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

-- ---------------------------------------------------------------- grants
REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA public FROM PUBLIC;
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'rx_gateway_app') THEN
        GRANT SELECT ON member_key TO rx_gateway_app;
        GRANT EXECUTE ON FUNCTION rx_post_claim(text, jsonb), rx_post_reversal(text, jsonb),
                                  rx_claim_for_reversal(text, text) TO rx_gateway_app;
    END IF;
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'rx_gateway_admin') THEN
        GRANT SELECT ON member_key TO rx_gateway_admin;
        GRANT EXECUTE ON FUNCTION rx_fund_purse(text, text, text, bigint, text, text),
                                  rx_schedule_allotment(text, text, text, bigint, date, text, text)
            TO rx_gateway_admin;
    END IF;
END $$;
