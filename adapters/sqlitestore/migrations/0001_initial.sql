-- Users, the event outbox and login-token digests.
-- Times are Unix microseconds (UTC), so they compare and index as integers.

CREATE TABLE users (
    id               TEXT    NOT NULL PRIMARY KEY,
    username         TEXT    NOT NULL,
    username_key     TEXT    NOT NULL,
    email            TEXT    NOT NULL DEFAULT '',
    email_key        TEXT    NOT NULL DEFAULT '',
    -- NULL when e-mails need not be unique: NULLs never collide in a
    -- UNIQUE index, which is exactly "users without a unique e-mail key
    -- never collide".
    unique_email_key TEXT,
    first_name       TEXT    NOT NULL DEFAULT '',
    last_name        TEXT    NOT NULL DEFAULT '',
    password_hash    TEXT    NOT NULL,
    is_active        INTEGER NOT NULL DEFAULT 0 CHECK (is_active IN (0, 1)),
    created_at       INTEGER NOT NULL
);
CREATE UNIQUE INDEX users_username_key ON users (username_key);
CREATE UNIQUE INDEX users_unique_email_key ON users (unique_email_key);
CREATE INDEX users_email_key ON users (email_key);

-- AUTOINCREMENT keeps seq strictly increasing even after the newest events
-- were deleted, so record order survives publishing.
CREATE TABLE outbox (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id     TEXT    NOT NULL UNIQUE,
    user_id      TEXT    NOT NULL,
    type         TEXT    NOT NULL,
    payload      TEXT    NOT NULL CHECK (json_valid(payload)),
    occurred_at  INTEGER NOT NULL,
    available_at INTEGER NOT NULL
);
CREATE INDEX outbox_user_id ON outbox (user_id);
CREATE INDEX outbox_available_at ON outbox (available_at);

CREATE TABLE tokens (
    digest     TEXT    NOT NULL PRIMARY KEY,
    user_id    TEXT    NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX tokens_user_id ON tokens (user_id);
