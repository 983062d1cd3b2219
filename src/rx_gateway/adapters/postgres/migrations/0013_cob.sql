-- 0013: coordination of benefits. A coverage's place in the member's payer order (1 primary,
-- 2 secondary ...), the member's coverage by payers this gateway does not process (third-party
-- liability: a claim billed here first is sent there, 41), and the ledger accounts a secondary
-- claim's other-payer amount (566-J5) posts to.

ALTER TABLE coverage ADD COLUMN payer_order smallint NOT NULL DEFAULT 1
    CHECK (payer_order BETWEEN 1 AND 9);

CREATE TABLE other_coverage (
    family_id        text NOT NULL,
    member_id        text NOT NULL,
    payer_order      smallint NOT NULL CHECK (payer_order BETWEEN 1 AND 9),
    payer_name       text NOT NULL CHECK (length(payer_name) BETWEEN 1 AND 60),
    bin              text NOT NULL CHECK (bin ~ '^[0-9]{6}$'),
    pcn              text NOT NULL DEFAULT '' CHECK (length(pcn) <= 10),
    group_id         text NOT NULL DEFAULT '' CHECK (length(group_id) <= 15),
    cardholder_id    text NOT NULL CHECK (length(cardholder_id) BETWEEN 1 AND 20),
    person_code      text NOT NULL DEFAULT '' CHECK (length(person_code) <= 3),
    help_desk_phone  text NOT NULL DEFAULT '' CHECK (length(help_desk_phone) <= 18),
    start_date       date NOT NULL,
    end_date         date CHECK (end_date IS NULL OR end_date >= start_date),
    PRIMARY KEY (family_id, member_id, bin, pcn, start_date),
    FOREIGN KEY (family_id, member_id) REFERENCES member (family_id, member_id)
);

-- the accounts of existing plans and pharmacies (new ones are created when they are loaded)
INSERT INTO account (account_key, kind)
SELECT 'other_payers:' || plan_id, 'other_payers' FROM plan
UNION ALL
SELECT 'pharmacy_other_payer:' || npi, 'pharmacy_other_payer' FROM pharmacy
ON CONFLICT DO NOTHING;

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'rx_gateway_app') THEN
        GRANT SELECT ON other_coverage TO rx_gateway_app;
    END IF;
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'rx_gateway_admin') THEN
        GRANT SELECT, INSERT, UPDATE ON other_coverage TO rx_gateway_admin;
    END IF;
END $$;
