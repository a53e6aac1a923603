-- Users, their API tokens (only a SHA-256 of each token is kept), campaigns,
-- their domains and proxies.
CREATE TABLE users (
    id         uuid PRIMARY KEY,
    name       text NOT NULL UNIQUE,
    created_at timestamptz NOT NULL
);

CREATE TABLE api_tokens (
    id           uuid PRIMARY KEY,
    user_id      uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash   text NOT NULL UNIQUE,
    created_at   timestamptz NOT NULL
);

CREATE TABLE campaigns (
    id                uuid PRIMARY KEY,
    user_id           uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name              text NOT NULL,
    description       text NOT NULL DEFAULT '',
    status            text NOT NULL,
    current_phase     text NOT NULL DEFAULT '',
    config            jsonb NOT NULL,
    total_domains     bigint NOT NULL,
    error             text NOT NULL DEFAULT '',
    -- version increases with every change of the campaign or its domains.
    version           bigint NOT NULL DEFAULT 1,
    -- Tallies kept in step with the domain rows, so that status summaries
    -- and page totals never count a million rows.
    domains_generated bigint NOT NULL DEFAULT 0,
    domains_validated bigint NOT NULL DEFAULT 0,
    domains_failed    bigint NOT NULL DEFAULT 0,
    dns_ok            bigint NOT NULL DEFAULT 0,
    dns_failed        bigint NOT NULL DEFAULT 0,
    http_ok           bigint NOT NULL DEFAULT 0,
    http_failed       bigint NOT NULL DEFAULT 0,
    http_skipped      bigint NOT NULL DEFAULT 0,
    lead_match        bigint NOT NULL DEFAULT 0,
    lead_no_match     bigint NOT NULL DEFAULT 0,
    created_at        timestamptz NOT NULL,
    updated_at        timestamptz NOT NULL,
    started_at        timestamptz,
    completed_at      timestamptz
);
CREATE INDEX campaigns_user_created ON campaigns (user_id, created_at DESC, id DESC);

-- One row per generated name. (campaign_id, offset_index) is both the unique
-- key that stops a resumed run from duplicating and the keyset of the list.
-- The *_state columns (0 pending, 1 validated, 2 failed, 3 skipped) are what
-- the filters select on; each has an index ending in offset_index so that a
-- filtered page is one ordered index range at any depth.
CREATE TABLE domains (
    campaign_id  uuid NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
    offset_index bigint NOT NULL,
    name         text NOT NULL,
    tld          text NOT NULL,
    generated_at timestamptz NOT NULL,
    state        smallint NOT NULL DEFAULT 0,
    dns_state    smallint NOT NULL DEFAULT 0,
    http_state   smallint NOT NULL DEFAULT 0,
    lead_state   smallint NOT NULL DEFAULT 0,
    lead_score   smallint NOT NULL DEFAULT 0,
    dns_result   jsonb,
    http_result  jsonb,
    PRIMARY KEY (campaign_id, offset_index)
);
CREATE INDEX domains_state ON domains (campaign_id, state, offset_index);
CREATE INDEX domains_dns_state ON domains (campaign_id, dns_state, offset_index);
CREATE INDEX domains_http_state ON domains (campaign_id, http_state, offset_index);
CREATE INDEX domains_lead_state ON domains (campaign_id, lead_state, offset_index);

CREATE TABLE proxies (
    id              uuid PRIMARY KEY,
    user_id         uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name            text NOT NULL,
    protocol        text NOT NULL,
    host            text NOT NULL,
    port            integer NOT NULL,
    username        text NOT NULL DEFAULT '',
    password        text NOT NULL DEFAULT '',
    enabled         boolean NOT NULL DEFAULT true,
    health          text NOT NULL DEFAULT 'unknown',
    latency_ms      double precision,
    last_checked_at timestamptz,
    last_error      text NOT NULL DEFAULT '',
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL
);
CREATE INDEX proxies_user_created ON proxies (user_id, created_at, id);
