-- 0010: settlement. Pharmacies are paid by remittance (X12 835) per payee and pay cycle,
-- sponsors are billed by invoice per billing cycle, their payments are recorded, and the bank's
-- confirmations are matched. All of it is history: rows are inserted, never updated or deleted.
--
-- Where each table lives (adapters/postgres/citus.py): the per-claim rows (remittance_item,
-- invoice_item) are per family, beside the claims they name, so a cycle's close is an
-- INSERT .. SELECT within each shard; the cycles, remittances, invoices, receipts, bank lines,
-- the settlement ledger and the parties are reference tables (few rows, written by a close).
--
-- The settlement ledger is a second journal with the same rules as the claims' (balanced
-- entries, append-only): a close moves each store's pharmacy_payable to its payee's
-- remittance_clearing; an invoice moves plan cost and purse spending to sponsor_receivable; the
-- bank's confirmations clear the clearing accounts. `rx-gateway verify` reads both journals.
--
-- rx_post_claim is redefined to keep 430-DU (the 835's charge, CLP03/SVC02). Claims posted
-- before this migration have none: their charge is taken to be the allowed amount.

ALTER TABLE claim ADD COLUMN gross_amount_due_cents bigint
    CHECK (gross_amount_due_cents IS NULL OR gross_amount_due_cents >= 0);
ALTER TABLE pharmacy ADD COLUMN payee_id text;

-- ---------------------------------------------------------------- parties
CREATE TABLE settlement_payer (
    singleton            boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    name                 text NOT NULL,
    address              text NOT NULL,
    city                 text NOT NULL,
    state                text NOT NULL CHECK (state ~ '^[A-Z]{2}$'),
    postal_code          text NOT NULL CHECK (postal_code ~ '^[0-9]{5}([0-9]{4})?$'),
    tin                  text NOT NULL CHECK (tin ~ '^[0-9]{9}$'),
    contact_name         text NOT NULL,
    contact_phone        text NOT NULL CHECK (contact_phone ~ '^[0-9]{10}$'),
    interchange_id       text NOT NULL CHECK (length(interchange_id) BETWEEN 1 AND 15),
    bank_routing_number  text NOT NULL DEFAULT '',
    bank_account_number  text NOT NULL DEFAULT ''
);

CREATE TABLE payee (
    payee_id             text PRIMARY KEY,
    name                 text NOT NULL,
    npi                  text NOT NULL DEFAULT '' CHECK (npi = '' OR npi ~ '^[0-9]{10}$'),
    tin                  text NOT NULL DEFAULT '' CHECK (tin = '' OR tin ~ '^[0-9]{9}$'),
    ncpdp_id             text NOT NULL DEFAULT '' CHECK (ncpdp_id = '' OR ncpdp_id ~ '^[0-9]{7}$'),
    bank_routing_number  text NOT NULL DEFAULT '',
    bank_account_number  text NOT NULL DEFAULT '',
    CHECK (npi <> '' OR tin <> '')
);

CREATE TABLE sponsor (
    sponsor_id                   text PRIMARY KEY,
    name                         text NOT NULL,
    billing_period_days          int NOT NULL DEFAULT 7 CHECK (billing_period_days IN (7, 14)),
    billing_cutoff_weekday       int NOT NULL DEFAULT 6 CHECK (billing_cutoff_weekday BETWEEN 0 AND 6),
    payment_terms_days           int NOT NULL DEFAULT 2 CHECK (payment_terms_days BETWEEN 0 AND 60),
    admin_fee_cents              bigint NOT NULL DEFAULT 0 CHECK (admin_fee_cents >= 0),
    funding_model                text NOT NULL DEFAULT 'arrears'
                                 CHECK (funding_model IN ('arrears', 'prefunded')),
    low_balance_threshold_cents  bigint NOT NULL DEFAULT 0 CHECK (low_balance_threshold_cents >= 0)
);

-- ---------------------------------------------------------------- the settlement ledger
CREATE TABLE settlement_entry (
    entry_id    bigserial PRIMARY KEY,
    kind        text NOT NULL CHECK (kind IN ('pay_cycle', 'invoice', 'receipt', 'bank')),
    reference   text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE settlement_posting (
    posting_id    bigserial PRIMARY KEY,
    entry_id      bigint NOT NULL REFERENCES settlement_entry,
    account_key   text NOT NULL,
    amount_cents  bigint NOT NULL CHECK (amount_cents <> 0),
    UNIQUE (entry_id, account_key)
);
CREATE INDEX settlement_posting_account ON settlement_posting (account_key);

CREATE FUNCTION rx_check_settlement_balance() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    bad bigint;
BEGIN
    SELECT n.entry_id INTO bad FROM new_postings n
    GROUP BY n.entry_id HAVING sum(n.amount_cents) <> 0 LIMIT 1;
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION 'settlement entry % does not balance', bad
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER settlement_posting_balance AFTER INSERT ON settlement_posting
    REFERENCING NEW TABLE AS new_postings FOR EACH STATEMENT
    EXECUTE FUNCTION rx_check_settlement_balance();

-- ---------------------------------------------------------------- pharmacy pay cycles
CREATE TABLE pay_cycle (
    cycle_id      text PRIMARY KEY,
    schedule_key  text NOT NULL,
    period_start  date NOT NULL,
    period_end    date NOT NULL,
    pay_date      date NOT NULL,
    cutoff_at     timestamptz NOT NULL,  -- received before this: in the cycle (or an earlier one)
    closed_at     timestamptz NOT NULL DEFAULT now(),
    CHECK (period_start <= period_end AND pay_date >= period_end)
);

-- One row per claim generation and per reversal in a remittance: the primary key is the
-- promise that nothing is remitted twice.
CREATE TABLE remittance_item (
    family_id     text NOT NULL,
    claim_id      bigint NOT NULL,
    kind          text NOT NULL CHECK (kind IN ('paid', 'reversal')),
    cycle_id      text NOT NULL REFERENCES pay_cycle,
    payee_id      text NOT NULL,
    service_provider_id text NOT NULL,
    paid_cents    bigint NOT NULL,  -- 509-F9 as remitted (negative on a reversal)
    PRIMARY KEY (family_id, claim_id, kind),
    FOREIGN KEY (family_id, claim_id) REFERENCES claim (family_id, claim_id)
);
CREATE INDEX remittance_item_cycle ON remittance_item (cycle_id, payee_id);

CREATE TABLE remittance (
    cycle_id           text NOT NULL REFERENCES pay_cycle,
    payee_id           text NOT NULL,
    trace_number       text NOT NULL UNIQUE,  -- TRN02: the EFT carries it back
    pay_date           date NOT NULL,
    claims_paid_cents  bigint NOT NULL,       -- Σ CLP04
    fee_cents          bigint NOT NULL CHECK (fee_cents >= 0),
    carried_in_cents   bigint NOT NULL CHECK (carried_in_cents >= 0),
    carried_out_cents  bigint NOT NULL CHECK (carried_out_cents >= 0),
    payment_cents      bigint NOT NULL CHECK (payment_cents >= 0),  -- BPR02
    line_count         int NOT NULL,
    interchange_control_number bigint NOT NULL UNIQUE,
    x12                text NOT NULL,
    document           text NOT NULL,  -- the JSON file, as written
    entry_id           bigint REFERENCES settlement_entry,
    PRIMARY KEY (cycle_id, payee_id),
    CHECK (payment_cents = claims_paid_cents - fee_cents - carried_in_cents + carried_out_cents)
);
CREATE SEQUENCE x12_interchange_control_number MINVALUE 1 MAXVALUE 999999999 CYCLE;

-- ---------------------------------------------------------------- sponsor billing
CREATE TABLE billing_cycle (
    cycle_id      text PRIMARY KEY,
    schedule_key  text NOT NULL,
    period_start  date NOT NULL,
    period_end    date NOT NULL,
    cutoff_at     timestamptz NOT NULL,
    closed_at     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE invoice (
    invoice_id        text PRIMARY KEY,
    sponsor_id        text NOT NULL REFERENCES sponsor,
    cycle_id          text NOT NULL REFERENCES billing_cycle,
    period_start      date NOT NULL,
    period_end        date NOT NULL,
    due_on            date NOT NULL,
    plan_paid_cents   bigint NOT NULL,
    purse_paid_cents  bigint NOT NULL,
    admin_fee_cents   bigint NOT NULL,
    total_cents       bigint NOT NULL,
    line_count        int NOT NULL,
    csv               text NOT NULL,
    document          text NOT NULL,  -- the JSON file, as written
    entry_id          bigint REFERENCES settlement_entry,
    UNIQUE (cycle_id, sponsor_id),
    CHECK (total_cents = plan_paid_cents + purse_paid_cents + admin_fee_cents)
);

-- One row per claim generation or reversal and sponsor billed for it.
CREATE TABLE invoice_item (
    family_id         text NOT NULL,
    claim_id          bigint NOT NULL,
    kind              text NOT NULL CHECK (kind IN ('paid', 'reversal')),
    sponsor_id        text NOT NULL,
    invoice_id        text NOT NULL REFERENCES invoice DEFERRABLE,  -- the invoice follows its items
    plan_paid_cents   bigint NOT NULL,
    purse_paid_cents  bigint NOT NULL,
    admin_fee_cents   bigint NOT NULL,
    PRIMARY KEY (family_id, claim_id, kind, sponsor_id),
    FOREIGN KEY (family_id, claim_id) REFERENCES claim (family_id, claim_id)
);
CREATE INDEX invoice_item_invoice ON invoice_item (invoice_id);

-- A file applied once: a second run of the same content is recognised by its digest.
CREATE TABLE settlement_file (
    digest      text PRIMARY KEY,
    kind        text NOT NULL CHECK (kind IN ('funding', 'bank')),
    name        text NOT NULL,
    line_count  int NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE sponsor_receipt (
    receipt_id    bigserial PRIMARY KEY,
    sponsor_id    text NOT NULL REFERENCES sponsor,
    invoice_id    text REFERENCES invoice,  -- NULL: a deposit (pre-funded)
    amount_cents  bigint NOT NULL CHECK (amount_cents > 0),
    received_on   date NOT NULL,
    reference     text NOT NULL,
    file_digest   text NOT NULL REFERENCES settlement_file,
    line_number   int NOT NULL,
    entry_id      bigint NOT NULL REFERENCES settlement_entry,
    UNIQUE (sponsor_id, reference)
);

CREATE TABLE bank_line (
    file_digest   text NOT NULL REFERENCES settlement_file,
    line_number   int NOT NULL,
    direction     text NOT NULL CHECK (direction IN ('debit', 'credit')),
    trace         text NOT NULL,
    amount_cents  bigint NOT NULL CHECK (amount_cents > 0),
    posted_on     date NOT NULL,
    PRIMARY KEY (file_digest, line_number)
);

-- A confirmed payment: each trace clears once.
CREATE TABLE bank_match (
    direction     text NOT NULL,
    trace         text NOT NULL,
    kind          text NOT NULL CHECK (kind IN ('remittance', 'receipt')),
    reference_id  text NOT NULL,
    amount_cents  bigint NOT NULL,
    file_digest   text NOT NULL,
    line_number   int NOT NULL,
    entry_id      bigint NOT NULL REFERENCES settlement_entry,
    PRIMARY KEY (direction, trace),
    FOREIGN KEY (file_digest, line_number) REFERENCES bank_line
);

CREATE TABLE settlement_alert (
    alert_id       bigserial PRIMARY KEY,
    raised_at      timestamptz NOT NULL DEFAULT now(),
    kind           text NOT NULL CHECK (kind IN ('low_balance')),
    sponsor_id     text NOT NULL,
    balance_cents  bigint NOT NULL,
    threshold_cents bigint NOT NULL,
    detail         text NOT NULL
);

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['settlement_entry', 'settlement_posting', 'pay_cycle',
                             'remittance_item', 'remittance', 'billing_cycle', 'invoice',
                             'invoice_item', 'settlement_file', 'sponsor_receipt', 'bank_line',
                             'bank_match', 'settlement_alert'] LOOP
        EXECUTE format('CREATE TRIGGER %I BEFORE UPDATE OR DELETE ON %I FOR EACH ROW '
                       'EXECUTE FUNCTION rx_refuse_history_change()', t || '_append_only', t);
        EXECUTE format('CREATE TRIGGER %I BEFORE TRUNCATE ON %I FOR EACH STATEMENT '
                       'EXECUTE FUNCTION rx_refuse_history_change()', t || '_no_truncate', t);
    END LOOP;
END $$;

-- A close finds what was received in its period by time.
CREATE INDEX claim_received ON claim (created_at);
CREATE INDEX claim_reversal_received ON claim_reversal (created_at);

-- ---------------------------------------------------------------- the claim write keeps 430-DU
CREATE OR REPLACE FUNCTION rx_post_claim(p_family_id text, p jsonb) RETURNS jsonb
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


-- ---------------------------------------------------------------- grants
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'rx_gateway_admin') THEN
        GRANT SELECT ON settlement_payer, payee, sponsor, settlement_entry, settlement_posting,
                        pay_cycle, remittance_item, remittance, billing_cycle, invoice,
                        invoice_item, settlement_file, sponsor_receipt, bank_line, bank_match,
                        settlement_alert TO rx_gateway_admin;
        GRANT INSERT ON settlement_entry, settlement_posting, pay_cycle, remittance_item,
                        remittance, billing_cycle, invoice, invoice_item, settlement_file,
                        sponsor_receipt, bank_line, bank_match, settlement_alert
            TO rx_gateway_admin;
        GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO rx_gateway_admin;
    END IF;
END $$;
