-- The application role: what a gateway may do, and no more. History is INSERT-only for it
-- (no UPDATE, no DELETE, no TRUNCATE), on top of the append-only triggers. Operators grant
-- this role to the login the gateway uses (RX_GATEWAY_DB_ROLE makes the gateway SET ROLE).
-- Roles are cluster-wide: create it once; a migrator without CREATEROLE skips with a notice.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'rx_gateway_app') THEN
        CREATE ROLE rx_gateway_app NOLOGIN;
    END IF;
EXCEPTION WHEN insufficient_privilege THEN
    RAISE NOTICE 'rx_gateway_app not created: the migrating user lacks CREATEROLE';
END $$;

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'rx_gateway_app') THEN
        EXECUTE format('GRANT CONNECT ON DATABASE %I TO rx_gateway_app', current_database());
        GRANT USAGE ON SCHEMA public TO rx_gateway_app;
        -- reference data and members: read (loads run as the operator, not the gateway)
        GRANT SELECT ON reference_version, plan, drug, formulary, pharmacy, member, coverage,
                        prior_authorization, account TO rx_gateway_app;
        -- per-family state the claim path moves
        GRANT SELECT, INSERT, UPDATE ON family, purse, accumulator TO rx_gateway_app;
        -- history: read and append only
        GRANT SELECT, INSERT ON journal_entry, posting, claim, claim_reversal, accumulator_move,
                                audit_log, purse_funding TO rx_gateway_app;
        GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO rx_gateway_app;
        REVOKE UPDATE, DELETE, TRUNCATE ON journal_entry, posting, claim, claim_reversal,
                                           accumulator_move, audit_log, purse_funding
            FROM rx_gateway_app;
        GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA public TO rx_gateway_app;
    END IF;
END $$;
