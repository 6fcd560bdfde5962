-- One login namespace for usernames and e-mail addresses, and the e-mail
-- each user owes (the mail queue).
--
-- The Go step of this migration (backfillLoginKeys in migrate.go) then
-- fills username_email_key and the namespace for the users already there,
-- since the key is an NFKC normalisation SQL cannot compute.

-- The e-mail key a login equal to the username is looked up by; NULL when
-- the username holds no "@".
ALTER TABLE users ADD COLUMN username_email_key text COLLATE "C";
CREATE INDEX users_username_email_key ON users (username_email_key) WHERE username_email_key IS NOT NULL;

-- The pending e-mail: NULL / '' / 0 when none is owed. mail_kind and
-- mail_due_at are set and cleared together.
ALTER TABLE users ADD COLUMN mail_kind text CHECK (mail_kind <> '');
ALTER TABLE users ADD COLUMN mail_to text NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN mail_due_at timestamptz;
ALTER TABLE users ADD COLUMN mail_attempts integer NOT NULL DEFAULT 0;
ALTER TABLE users ADD CONSTRAINT users_mail_kind_and_due_at CHECK ((mail_kind IS NULL) = (mail_due_at IS NULL));
-- ClaimMail reads due mails earliest first straight from this index.
CREATE INDEX users_mail_due_at ON users (mail_due_at, id) WHERE mail_kind IS NOT NULL;

-- Every user's unique e-mail key and username e-mail key, each owned by one
-- user: the primary key is what makes a username equal to another account's
-- address (or the reverse) fail, atomically, in the statement that writes
-- the user.
CREATE TABLE login_keys (
    key     text COLLATE "C" NOT NULL,
    user_id text COLLATE "C" NOT NULL,
    CONSTRAINT login_keys_pkey PRIMARY KEY (key)
);
CREATE INDEX login_keys_user_id ON login_keys (user_id);

-- E-mail keys were already unique (users_unique_email_key), so they enter
-- the namespace without conflict; username keys follow in the Go step.
INSERT INTO login_keys (key, user_id)
SELECT unique_email_key, id FROM users WHERE unique_email_key IS NOT NULL;

-- login_keys now keeps unique e-mail keys unique, against usernames too;
-- a second index on them would only slow every registration down.
DROP INDEX users_unique_email_key;
