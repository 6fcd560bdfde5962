-- One login namespace for usernames and e-mail addresses, and the e-mail
-- each user owes (the mail queue).
--
-- The Go step of this migration (backfillLoginKeys in migrate.go) then
-- fills username_email_key and the namespace for the users already there,
-- since the key is an NFKC normalisation SQL cannot compute.

-- The e-mail key a login equal to the username is looked up by; NULL when
-- the username holds no "@".
ALTER TABLE users ADD COLUMN username_email_key TEXT;
CREATE INDEX users_username_email_key ON users (username_email_key) WHERE username_email_key IS NOT NULL;

-- The pending e-mail: all NULL / '' / 0 when none is owed. mail_kind and
-- mail_due_at are set and cleared together.
ALTER TABLE users ADD COLUMN mail_kind TEXT CHECK (mail_kind <> '');
ALTER TABLE users ADD COLUMN mail_to TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN mail_due_at INTEGER;
ALTER TABLE users ADD COLUMN mail_attempts INTEGER NOT NULL DEFAULT 0;
-- ClaimMail reads due mails earliest first straight from this index; its
-- WHERE clause must keep "mail_kind IS NOT NULL" for SQLite to use it.
CREATE INDEX users_mail_due_at ON users (mail_due_at, id) WHERE mail_kind IS NOT NULL;

-- Every user's unique e-mail key and username e-mail key, each owned by one
-- user: the primary key is what makes a username equal to another account's
-- address (or the reverse) fail, atomically, in the transaction that
-- writes the user.
CREATE TABLE login_keys (
    key     TEXT NOT NULL PRIMARY KEY,
    user_id TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX login_keys_user_id ON login_keys (user_id);

-- E-mail keys were already unique (users_unique_email_key), so they enter
-- the namespace without conflict; username keys follow in the Go step.
INSERT INTO login_keys (key, user_id)
SELECT unique_email_key, id FROM users WHERE unique_email_key IS NOT NULL;
