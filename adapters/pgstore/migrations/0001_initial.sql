-- Users, the event outbox and login-token digests.
--
-- Keys are compared byte for byte (COLLATE "C"): they are already
-- normalised by the core, and a case-sensitive deployment must keep "Ann"
-- and "ann" apart whatever the database's default collation says.

CREATE TABLE users (
    id                   text        COLLATE "C" NOT NULL PRIMARY KEY,
    username             text        NOT NULL,
    username_key         text        COLLATE "C" NOT NULL,
    email                text        NOT NULL DEFAULT '',
    email_key            text        COLLATE "C" NOT NULL DEFAULT '',
    -- NULL when e-mails need not be unique: NULLs never collide in a
    -- unique index, which is exactly "users without a unique e-mail key
    -- never collide".
    unique_email_key     text        COLLATE "C",
    first_name           text        NOT NULL DEFAULT '',
    last_name            text        NOT NULL DEFAULT '',
    password_hash        text        NOT NULL,
    is_active            boolean     NOT NULL DEFAULT false,
    created_at           timestamptz NOT NULL,
    -- When the last verification e-mail went out; NULL when none did.
    verification_sent_at timestamptz
);
-- The store tells the two unique violations apart by these names.
CREATE UNIQUE INDEX users_username_key ON users (username_key);
CREATE UNIQUE INDEX users_unique_email_key ON users (unique_email_key);
CREATE INDEX users_email_key ON users (email_key);

-- seq is the record order: events of one user are written by transactions
-- that take that user's row lock in turn, so their seq values increase in
-- the order they were recorded.
--
-- claimed_by / claimed_until are the relay lease: the store instance whose
-- relay is publishing the event, and until when the others leave it (and
-- every later event of the same user) alone.
CREATE TABLE outbox (
    seq           bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id      text        COLLATE "C" NOT NULL UNIQUE,
    user_id       text        COLLATE "C" NOT NULL,
    type          text        NOT NULL,
    -- json, not jsonb: the payload is kept exactly as encoded.
    payload       json        NOT NULL,
    occurred_at   timestamptz NOT NULL,
    available_at  timestamptz NOT NULL,
    claimed_by    uuid,
    claimed_until timestamptz
);
CREATE INDEX outbox_user_id_seq ON outbox (user_id, seq);
CREATE INDEX outbox_available_at ON outbox (available_at);

CREATE TABLE tokens (
    digest     text        COLLATE "C" NOT NULL PRIMARY KEY,
    user_id    text        COLLATE "C" NOT NULL,
    created_at timestamptz NOT NULL
);
CREATE INDEX tokens_user_id ON tokens (user_id);
