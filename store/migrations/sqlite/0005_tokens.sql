-- API tokens get a name, a hint (the prefix and last four characters, all
-- that is shown of a token after it is made), an expiry and the time of
-- their last use (written at most once a minute). Revoking a token deletes
-- its row.
ALTER TABLE api_tokens ADD COLUMN name TEXT NOT NULL DEFAULT '';
ALTER TABLE api_tokens ADD COLUMN hint TEXT NOT NULL DEFAULT 'dft_…';
ALTER TABLE api_tokens ADD COLUMN expires_at DATETIME;
ALTER TABLE api_tokens ADD COLUMN last_used_at DATETIME;
CREATE INDEX api_tokens_user_created ON api_tokens (user_id, created_at, id);

-- How many tokens were ever revoked. An instance serving requests reads it
-- up to four times a second: a token it remembers as valid is looked up
-- again once the count has moved, so a revocation takes effect everywhere
-- within a second.
CREATE TABLE token_revocations (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    revoked INTEGER NOT NULL
);
INSERT INTO token_revocations (id, revoked) VALUES (1, 0);

-- Single-use tickets for the WebSocket handshake (a browser cannot send a
-- header there, and a token in a URL ends up in logs). Only a SHA-256 of each
-- is kept; redeeming one deletes it; a revoked token takes its tickets along.
CREATE TABLE ws_tickets (
    ticket_hash TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_id    TEXT NOT NULL REFERENCES api_tokens (id) ON DELETE CASCADE,
    expires_at  DATETIME NOT NULL
);
CREATE INDEX ws_tickets_expires ON ws_tickets (expires_at);
CREATE INDEX ws_tickets_token ON ws_tickets (token_id);
