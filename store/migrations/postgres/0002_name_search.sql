-- A trigram index makes the `q` substring search of the domain list fast.
-- pg_trgm is a trusted extension, but a database may still refuse it; then
-- search works without the index (it scans the campaign's rows).
DO $$
BEGIN
    CREATE EXTENSION IF NOT EXISTS pg_trgm;
    CREATE INDEX IF NOT EXISTS domains_name_trgm ON domains USING gin (name gin_trgm_ops);
EXCEPTION WHEN insufficient_privilege OR undefined_file OR feature_not_supported THEN
    RAISE NOTICE 'pg_trgm is not available: domain name search will not be indexed';
END
$$;
