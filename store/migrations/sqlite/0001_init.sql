-- Users, their API tokens (only a SHA-256 of each token is kept), campaigns,
-- their domains and proxies.
CREATE TABLE users (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    created_at DATETIME NOT NULL
);

CREATE TABLE api_tokens (
    id           TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash   TEXT NOT NULL UNIQUE,
    created_at   DATETIME NOT NULL
);

CREATE TABLE campaigns (
    id                TEXT PRIMARY KEY,
    user_id           TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name              TEXT NOT NULL,
    description       TEXT NOT NULL DEFAULT '',
    status            TEXT NOT NULL,
    current_phase     TEXT NOT NULL DEFAULT '',
    config            TEXT NOT NULL,
    total_domains     INTEGER NOT NULL,
    error             TEXT NOT NULL DEFAULT '',
    -- version increases with every change of the campaign or its domains.
    version           INTEGER NOT NULL DEFAULT 1,
    -- Tallies kept in step with the domain rows, so that status summaries
    -- and page totals never count a million rows.
    domains_generated INTEGER NOT NULL DEFAULT 0,
    domains_validated INTEGER NOT NULL DEFAULT 0,
    domains_failed    INTEGER NOT NULL DEFAULT 0,
    dns_ok            INTEGER NOT NULL DEFAULT 0,
    dns_failed        INTEGER NOT NULL DEFAULT 0,
    http_ok           INTEGER NOT NULL DEFAULT 0,
    http_failed       INTEGER NOT NULL DEFAULT 0,
    http_skipped      INTEGER NOT NULL DEFAULT 0,
    lead_match        INTEGER NOT NULL DEFAULT 0,
    lead_no_match     INTEGER NOT NULL DEFAULT 0,
    created_at        DATETIME NOT NULL,
    updated_at        DATETIME NOT NULL,
    started_at        DATETIME,
    completed_at      DATETIME
);
CREATE INDEX campaigns_user_created ON campaigns (user_id, created_at DESC, id DESC);

-- One row per generated name. (campaign_id, offset_index) is both the unique
-- key that stops a resumed run from duplicating and the keyset of the list.
-- The *_state columns (0 pending, 1 validated, 2 failed, 3 skipped) are what
-- the filters select on; each has an index ending in offset_index so that a
-- filtered page is one ordered index range at any depth.
CREATE TABLE domains (
    campaign_id  TEXT NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
    offset_index INTEGER NOT NULL,
    name         TEXT NOT NULL,
    tld          TEXT NOT NULL,
    generated_at DATETIME NOT NULL,
    state        INTEGER NOT NULL DEFAULT 0,
    dns_state    INTEGER NOT NULL DEFAULT 0,
    http_state   INTEGER NOT NULL DEFAULT 0,
    lead_state   INTEGER NOT NULL DEFAULT 0,
    lead_score   INTEGER NOT NULL DEFAULT 0,
    dns_result   TEXT,
    http_result  TEXT,
    PRIMARY KEY (campaign_id, offset_index)
) WITHOUT ROWID;
CREATE INDEX domains_state ON domains (campaign_id, state, offset_index);
CREATE INDEX domains_dns_state ON domains (campaign_id, dns_state, offset_index);
CREATE INDEX domains_http_state ON domains (campaign_id, http_state, offset_index);
CREATE INDEX domains_lead_state ON domains (campaign_id, lead_state, offset_index);

CREATE TABLE proxies (
    id              TEXT PRIMARY KEY,
    user_id         TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name            TEXT NOT NULL,
    protocol        TEXT NOT NULL,
    host            TEXT NOT NULL,
    port            INTEGER NOT NULL,
    username        TEXT NOT NULL DEFAULT '',
    password        TEXT NOT NULL DEFAULT '',
    enabled         INTEGER NOT NULL DEFAULT 1,
    health          TEXT NOT NULL DEFAULT 'unknown',
    latency_ms      REAL,
    last_checked_at DATETIME,
    last_error      TEXT NOT NULL DEFAULT '',
    created_at      DATETIME NOT NULL,
    updated_at      DATETIME NOT NULL
);
CREATE INDEX proxies_user_created ON proxies (user_id, created_at, id);
