-- The key check of sealed secrets: a known text sealed under the key that
-- seals every secret column (proxies.password). It is written the first
-- time the service starts with a key (which seals the secrets stored in
-- plain text until then); a key that does not open it is refused at start.
CREATE TABLE secret_key_check (
    id         integer PRIMARY KEY CHECK (id = 1),
    sealed     text NOT NULL,
    updated_at timestamptz NOT NULL
);

-- The audit trail: who (user id, and the name at the time) did what
-- (action, resource) from where (the client's address, or 'cli'), with a
-- small JSON detail that never holds a secret. Not tied to users or the
-- resources by foreign keys: it outlives what it tells of. Events older
-- than 90 days are pruned as new ones are written.
CREATE TABLE audit_events (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at            timestamptz NOT NULL,
    user_id       uuid NOT NULL,
    user_name     text NOT NULL,
    address       text NOT NULL,
    action        text NOT NULL,
    resource_type text NOT NULL,
    resource_id   text NOT NULL,
    detail        jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_events_user ON audit_events (user_id, id);
CREATE INDEX audit_events_at ON audit_events (at);
