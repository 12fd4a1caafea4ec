-- Failed dashboard logins per account name and per client address, shared by every instance
-- (server/src/throttle.rs's policy decides; server/src/store/postgres/throttle.rs writes).
-- A row is locked (SELECT ... FOR UPDATE) while a failure is counted, so two instances
-- counting at once count two. Keys quiet for an hour are purged.
CREATE TABLE login_throttle (
    scope        text        NOT NULL,
    key          text        NOT NULL,
    failures     integer     NOT NULL,
    last_failure timestamptz NOT NULL,
    locked_until timestamptz,
    PRIMARY KEY (scope, key)
);
CREATE INDEX login_throttle_quiet ON login_throttle (scope, last_failure);
