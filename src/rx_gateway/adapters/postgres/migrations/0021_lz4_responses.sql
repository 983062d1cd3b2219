-- 0021: the stored responses compressed with lz4 where the server has it (issue 16).
--
-- A paid claim's stored response (claim.response, about 2.6 KB of JSON) puts its row past
-- PostgreSQL's 2 KB threshold, so every claim write compresses it: with the default pglz that
-- was about 4% of the write's PostgreSQL CPU (perf on a backend posting the gateway's own
-- batches). lz4 compresses several times faster at a similar size. Only where the server was
-- built with lz4 (default_toast_compression offers it): the embedded server of `pgserver` is
-- not, and keeps pglz. Values already stored keep their compression; new ones use lz4. Not on
-- a Citus coordinator (the change would have to reach every shard: left to its operator).
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_settings
               WHERE name = 'default_toast_compression' AND 'lz4' = ANY (enumvals))
       AND to_regclass('pg_catalog.pg_dist_partition') IS NULL THEN
        ALTER TABLE claim ALTER COLUMN response SET COMPRESSION lz4;
        ALTER TABLE claim_reversal ALTER COLUMN response SET COMPRESSION lz4;
    END IF;
END $$;
