-- The server's own tables (store/schema.rs has their SQLite shape): accounts and devices,
-- playbooks, the rejection log, import keys, and the managers' dashboard (passwords, sessions,
-- login links, desks, spot checks). `user` is a reserved word here: columns naming a member
-- are `user_id`. Times are timestamptz, device ids uuid.

CREATE TABLE server_meta (
    key   text PRIMARY KEY,
    value text NOT NULL
);
INSERT INTO server_meta (key, value) VALUES ('doc_epoch', '0');

CREATE TABLE teams (
    name       text PRIMARY KEY,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE users (
    id         text PRIMARY KEY,
    name       text NOT NULL,
    role       text NOT NULL,
    team       text NOT NULL,
    reports_to text,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX users_by_team ON users (team);

-- Members who left: no login, no phone, not in the team's lists; their history stays.
CREATE TABLE deactivated_users (
    user_id        text PRIMARY KEY,
    deactivated_by text,
    at             timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE devices (
    id         uuid PRIMARY KEY,
    user_id    text NOT NULL,
    token_hash text NOT NULL UNIQUE,
    actor      text UNIQUE,
    revoked    boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT now(),
    last_seen  timestamptz,
    last_sync  timestamptz
);
CREATE INDEX devices_by_user ON devices (user_id);

CREATE TABLE playbooks (
    team       text PRIMARY KEY,
    toml       text NOT NULL,
    hash       text NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE playbook_history (
    team     text NOT NULL,
    hash     text NOT NULL,
    toml     text NOT NULL,
    first_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (team, hash)
);

CREATE TABLE sync_rejections (
    id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    device    uuid NOT NULL,
    user_id   text NOT NULL,
    doc       text NOT NULL,
    code      text NOT NULL,
    message   text NOT NULL,
    data_hash text NOT NULL,
    first_at  timestamptz NOT NULL DEFAULT now(),
    last_at   timestamptz NOT NULL DEFAULT now(),
    attempts  integer NOT NULL DEFAULT 1,
    UNIQUE (device, doc, data_hash)
);

CREATE TABLE import_keys (
    team     text NOT NULL,
    key      text NOT NULL,
    customer uuid NOT NULL,
    PRIMARY KEY (team, key)
);

-- The managers' dashboard: argon2 PHC strings; sessions and one-time login links stored as
-- the SHA-256 of their token.
CREATE TABLE passwords (
    user_id    text PRIMARY KEY,
    phc        text NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE sessions (
    token_hash text PRIMARY KEY,
    user_id    text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL
);
CREATE INDEX sessions_by_expiry ON sessions (expires_at);

CREATE TABLE login_links (
    token_hash text PRIMARY KEY,
    user_id    text NOT NULL,
    expires_at timestamptz NOT NULL
);

CREATE TABLE desks (
    user_id text PRIMARY KEY,
    device  uuid NOT NULL
);

CREATE TABLE spot_checks (
    agent      text NOT NULL,
    week_from  date NOT NULL,
    checked_by text NOT NULL,
    note       text NOT NULL,
    at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (agent, week_from)
);
