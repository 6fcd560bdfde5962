-- LatestToken reads a user's newest token straight from this index, without
-- sorting the user's tokens. Its first column serves every lookup by user
-- alone (DeleteUserTokens, DeleteInactiveUser) as well, so the index on
-- user_id only would be a second copy to keep up to date on each login.
CREATE INDEX tokens_user_id_created_at ON tokens (user_id, created_at);
DROP INDEX tokens_user_id;
