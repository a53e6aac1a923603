-- Instances of the service and their heartbeats, in milliseconds of the
-- database's own clock (one clock for every host). An instance whose
-- heartbeat stopped is dead: the campaigns it was working are handed on at
-- once instead of waiting for River's rescue of stuck jobs.
CREATE TABLE instances (
    id           text PRIMARY KEY,
    started_at   bigint NOT NULL,
    heartbeat_at bigint NOT NULL
);

-- Set while the instance working a campaign stopped answering and no other
-- instance has taken the campaign over yet.
ALTER TABLE campaigns ADD COLUMN stalled_since timestamptz;
