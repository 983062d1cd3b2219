-- 0012: drug utilization review data. A drug's therapeutic class (for therapeutic
-- duplication) and the drug-drug interactions a plan checks, by molecule (either order).

ALTER TABLE drug ADD COLUMN therapeutic_class text NOT NULL DEFAULT '';

CREATE TABLE drug_interaction (
    molecule_a    text NOT NULL,
    molecule_b    text NOT NULL,
    significance  text NOT NULL CHECK (significance IN ('1', '2', '3', '9')),
    text          text NOT NULL,
    PRIMARY KEY (molecule_a, molecule_b),
    CHECK (molecule_a < molecule_b)
);

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'rx_gateway_app') THEN
        GRANT SELECT ON drug_interaction TO rx_gateway_app;
    END IF;
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'rx_gateway_admin') THEN
        GRANT SELECT ON drug_interaction TO rx_gateway_admin;
    END IF;
END $$;
