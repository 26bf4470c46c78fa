-- Revocation (by id, by user, by leaked plaintext) and rotation.
\i test/sql/setup/common.sql
\set VERBOSITY terse
SET api_tokens.last_used_interval = '1d';

INSERT INTO users (id, email) VALUES
    ('00000000-0000-0000-0000-000000000005', 'erin@example.com'),
    ('00000000-0000-0000-0000-000000000006', 'frank@example.com');

-- api_token_revoke: true only when it deactivated an active token.
SELECT token_id, token FROM api_token_create('00000000-0000-0000-0000-000000000005', 'a') \gset
SELECT api_token_revoke(:'token_id') AS revoked;
SELECT status FROM api_token_validate(:'token');
SELECT api_token_revoke(:'token_id') AS revoked_again;
SELECT api_token_revoke('00000000-0000-0000-0000-0000000000ff') AS revoked_unknown;

-- api_token_revoke_user: counts what it revoked, touches no other user.
SELECT token AS e1 FROM api_token_create('00000000-0000-0000-0000-000000000005', 'e1') \gset
SELECT token AS e2 FROM api_token_create('00000000-0000-0000-0000-000000000005', 'e2') \gset
SELECT token AS f1 FROM api_token_create('00000000-0000-0000-0000-000000000006', 'f1') \gset
SELECT api_token_revoke_user('00000000-0000-0000-0000-000000000005') AS revoked;
SELECT api_token_revoke_user('00000000-0000-0000-0000-000000000005') AS revoked_again;
SELECT api_token_revoke_user('00000000-0000-0000-0000-0000000000ff') AS unknown_user;
SELECT status FROM api_token_validate(:'e1');
SELECT status FROM api_token_validate(:'e2');
SELECT status FROM api_token_validate(:'f1');

-- api_token_revoke_leaked: by plaintext; junk, NULLs and duplicates are ignored.
SELECT token AS f2 FROM api_token_create('00000000-0000-0000-0000-000000000006', 'f2') \gset
SELECT token AS f3 FROM api_token_create('00000000-0000-0000-0000-000000000006', 'f3') \gset
SELECT api_token_revoke_leaked(ARRAY[:'f1', :'f2', :'f2', 'junk', NULL, api_token_generate()]) AS revoked;
SELECT api_token_revoke_leaked(ARRAY[:'f1', :'f2']) AS revoked_again;
SELECT api_token_revoke_leaked('{}') AS nothing;
SELECT status FROM api_token_validate(:'f2');
SELECT status FROM api_token_validate(:'f3');

-- api_token_rotate without grace: the old token stops at once; the new one
-- keeps user, name, scopes and expiry.
SELECT token_id AS old_id, token AS old_token
  FROM api_token_create('00000000-0000-0000-0000-000000000006', 'rotating', '{read,write}',
                        '2100-01-01 00:00:00+00') \gset
SELECT token_id AS new_id, token AS new_token FROM api_token_rotate(:'old_id') \gset
SELECT o.user_id = n.user_id AS same_user, o.name = n.name AS same_name,
       o.scopes = n.scopes AS same_scopes, o.expires_at = n.expires_at AS same_expiry,
       n.last_used_at IS NULL AS fresh, n.token_hash <> o.token_hash AS new_hash
  FROM api_tokens o, api_tokens n WHERE o.id = :'old_id' AND n.id = :'new_id';

SELECT :'new_id' <> :'old_id' AS new_id, :'new_token' <> :'old_token' AS new_token,
       api_token_is_wellformed(:'new_token') AS wellformed;
-- The old token was rotated out: rotated, not just inactive.
SELECT status FROM api_token_validate(:'old_token');
SELECT status, user_id, scopes FROM api_token_validate(:'new_token');
-- With grace: both work until the grace ends.
SELECT token_id AS g_id, token AS g_token
  FROM api_token_create('00000000-0000-0000-0000-000000000006', 'graceful') \gset
BEGIN;
SELECT token_id AS g2_id, token AS g2_token FROM api_token_rotate(:'g_id', '1 hour') \gset
SELECT expires_at = now() + interval '1 hour' AS old_expires_after_grace
  FROM api_tokens WHERE id = :'g_id';
COMMIT;
SELECT status FROM api_token_validate(:'g_token');
SELECT status FROM api_token_validate(:'g2_token');
SELECT expires_at IS NULL AS new_never_expires FROM api_tokens WHERE id = :'g2_id';
-- ... and once it has ended (time travel by editing the row) the old one is
-- rotated (it expired because it was rotated out).
UPDATE api_tokens SET expires_at = now() - interval '1 second' WHERE id = :'g_id';
SELECT status FROM api_token_validate(:'g_token');

-- Grace never extends a token beyond its own expiry.
BEGIN;
SELECT token_id AS s_id FROM api_token_create('00000000-0000-0000-0000-000000000006', 'short',
                                              NULL, now() + interval '10 minutes') \gset
SELECT token_id AS s2_id FROM api_token_rotate(:'s_id', '1 day') \gset
SELECT expires_at = now() + interval '10 minutes' AS old_keeps_own_expiry
  FROM api_tokens WHERE id = :'s_id';
SELECT expires_at = now() + interval '10 minutes' AS new_keeps_expiry
  FROM api_tokens WHERE id = :'s2_id';
COMMIT;

-- Errors.
\set VERBOSITY sqlstate
SELECT * FROM api_token_rotate(:'old_id');
SELECT * FROM api_token_rotate(:'g_id');
SELECT * FROM api_token_rotate('00000000-0000-0000-0000-0000000000ff');
SELECT * FROM api_token_rotate(NULL);
SELECT * FROM api_token_rotate(:'new_id', NULL);
SELECT * FROM api_token_rotate(:'new_id', '-1 second');
SELECT api_token_revoke(NULL);
SELECT api_token_revoke_user(NULL);
SELECT api_token_revoke_leaked(NULL);
\set VERBOSITY terse
SELECT * FROM api_token_rotate('00000000-0000-0000-0000-0000000000ff');
SELECT * FROM api_token_rotate(:'new_id', '-1 second');
SELECT * FROM api_token_rotate(:'new_id', '1000000 years');
-- A failed rotation changed nothing.
SELECT status FROM api_token_validate(:'new_token');
SELECT count(*) AS tokens_named_rotating FROM api_tokens WHERE name = 'rotating';
RESET api_tokens.last_used_interval;
