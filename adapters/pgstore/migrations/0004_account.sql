-- The account flows after registration: when each user last logged in, and
-- the queue of the e-mails those flows send (core.QueuedMail).

-- Django's last_login; NULL when never.
ALTER TABLE users ADD COLUMN last_login timestamptz;

-- One row per e-mail waiting for a courier, written in the transaction of
-- the change that owes it. user_id is '' for a reset request whose login
-- the courier looks up (login names it then).
CREATE TABLE queued_mail (
    id         text        COLLATE "C" NOT NULL PRIMARY KEY,
    kind       text        NOT NULL CHECK (kind <> ''),
    user_id    text        COLLATE "C" NOT NULL DEFAULT '',
    login      text        NOT NULL DEFAULT '',
    address    text        NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL,
    due_at     timestamptz NOT NULL,
    attempts   integer     NOT NULL DEFAULT 0
);
-- ClaimQueuedMail reads due mails earliest first straight from this index.
CREATE INDEX queued_mail_due_at ON queued_mail (due_at, id);
-- DeleteInactiveUser removes a user's mails through this one.
CREATE INDEX queued_mail_user_id ON queued_mail (user_id) WHERE user_id <> '';
