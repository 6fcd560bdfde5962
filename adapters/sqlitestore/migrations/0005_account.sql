-- The account flows after registration: when each user last logged in, and
-- the queue of the e-mails those flows send (core.QueuedMail).

-- Django's last_login (Unix microseconds, UTC); NULL when never.
ALTER TABLE users ADD COLUMN last_login INTEGER;

-- One row per e-mail waiting for the courier, written in the transaction of
-- the change that owes it. user_id is '' for a reset request whose login
-- is looked up by the courier (login names it then).
CREATE TABLE queued_mail (
    id         TEXT    NOT NULL PRIMARY KEY,
    kind       TEXT    NOT NULL CHECK (kind <> ''),
    user_id    TEXT    NOT NULL DEFAULT '',
    login      TEXT    NOT NULL DEFAULT '',
    address    TEXT    NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    due_at     INTEGER NOT NULL,
    attempts   INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
-- ClaimQueuedMail reads due mails earliest first straight from this index.
CREATE INDEX queued_mail_due_at ON queued_mail (due_at, id);
-- DeleteInactiveUser removes a user's mails through this one.
CREATE INDEX queued_mail_user_id ON queued_mail (user_id) WHERE user_id <> '';
