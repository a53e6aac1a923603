-- Results a user can trust: the zones found to answer every name, the
-- campaign's resolvers and their figures, the warnings of a completed run,
-- tallies of wildcard answers and of names left without an answer, and the
-- breakdown of each domain's lead score.
ALTER TABLE campaigns ADD COLUMN wildcards      TEXT;            -- NULL until checked before the DNS phase
ALTER TABLE campaigns ADD COLUMN resolvers      TEXT;
ALTER TABLE campaigns ADD COLUMN warnings       TEXT;
ALTER TABLE campaigns ADD COLUMN dns_wildcard   INTEGER NOT NULL DEFAULT 0;
ALTER TABLE campaigns ADD COLUMN dns_unresolved INTEGER NOT NULL DEFAULT 0;
ALTER TABLE domains ADD COLUMN lead_result TEXT;
