-- Results a user can trust: the zones found to answer every name, the
-- campaign's resolvers and their figures, the warnings of a completed run,
-- tallies of wildcard answers and of names left without an answer, and the
-- breakdown of each domain's lead score.
ALTER TABLE campaigns ADD COLUMN wildcards      jsonb;           -- NULL until checked before the DNS phase
ALTER TABLE campaigns ADD COLUMN resolvers      jsonb;
ALTER TABLE campaigns ADD COLUMN warnings       jsonb;
ALTER TABLE campaigns ADD COLUMN dns_wildcard   bigint NOT NULL DEFAULT 0;
ALTER TABLE campaigns ADD COLUMN dns_unresolved bigint NOT NULL DEFAULT 0;
ALTER TABLE domains ADD COLUMN lead_result jsonb;
