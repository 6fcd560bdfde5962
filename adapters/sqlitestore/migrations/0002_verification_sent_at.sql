-- When the last verification e-mail went out (Unix microseconds, UTC); NULL
-- when none did. resend-verification/ keeps RESEND_VERIFICATION_INTERVAL
-- between two e-mails with a conditional update on it.
ALTER TABLE users ADD COLUMN verification_sent_at INTEGER;
