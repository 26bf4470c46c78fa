-- Attacks on the correctness of answers: a cache that outlives the schema it
-- was built for, what one statement sees of its own changes, and a hidden
-- write that collides with the caller's own update of the row.
\i test/sql/setup/common.sql
\set VERBOSITY terse
SET api_tokens.last_used_interval = 0;
INSERT INTO users (id, email) VALUES ('00000000-0000-0000-0000-0000000000d1', 'answers@example.com');

-------------------------------------------------------------------------------
-- attack_same_statement_visibility: a statement sees what a VOLATILE SQL
-- function would see, its own earlier changes included.
-------------------------------------------------------------------------------
SELECT (SELECT status FROM api_token_validate(c.token)) AS status_of_new_token
  FROM api_token_create('00000000-0000-0000-0000-0000000000d1', 'same statement') AS c;
SELECT token_id, token
  FROM api_token_create('00000000-0000-0000-0000-0000000000d1', 'revoke then validate') \gset
WITH revoked AS (SELECT api_token_revoke(:'token_id') AS revoked)
SELECT r.revoked, v.status
  FROM revoked AS r,
       LATERAL (SELECT status FROM api_token_validate(:'token') WHERE r.revoked IS NOT NULL) AS v;

-------------------------------------------------------------------------------
-- attack_hidden_write_conflict: the statement that validates also updates
-- the token's row.  The use is recorded at commit, after the statement, so
-- the statement never meets a row version the validation wrote.
-------------------------------------------------------------------------------
SELECT token_id, token
  FROM api_token_create('00000000-0000-0000-0000-0000000000d1', 'busy row') \gset
BEGIN;
SELECT now() AS t \gset
UPDATE api_tokens SET name = 'updated by the caller'
 WHERE id = (SELECT v.token_id FROM api_token_validate(:'token') AS v);
WITH u AS (UPDATE api_tokens SET name = 'updated again' WHERE id = :'token_id' RETURNING id)
SELECT v.status, (SELECT count(*) FROM u) AS updated FROM api_token_validate(:'token') AS v;
COMMIT;
SELECT name, last_used_at = :'t' AS use_recorded FROM api_tokens WHERE id = :'token_id';

-------------------------------------------------------------------------------
-- attack_stale_schema_cache: after the extension moves to another schema, a
-- long-lived session's validation uses the new schema's table, not the one
-- it used before.
-------------------------------------------------------------------------------
SELECT token AS old_token
  FROM api_token_create('00000000-0000-0000-0000-0000000000d1', 'before the move') \gset
SELECT status FROM api_token_validate(:'old_token');
DROP EXTENSION api_tokens;
CREATE SCHEMA moved;
SET api_tokens.users_table = 'public.users';
CREATE EXTENSION api_tokens SCHEMA moved;
RESET api_tokens.users_table;
SELECT token AS new_token
  FROM moved.api_token_create('00000000-0000-0000-0000-0000000000d1', 'after the move') \gset
SELECT status FROM moved.api_token_validate(:'old_token');
SELECT status FROM moved.api_token_validate(:'new_token');
-- Back to the schema the other tests use.
DROP EXTENSION api_tokens;
DROP TABLE moved.api_tokens, moved.api_token_rotations, moved.api_token_events,
    moved.api_token_limits;
DROP SCHEMA moved;
CREATE EXTENSION api_tokens;
SELECT status FROM api_token_validate(:'old_token');

RESET api_tokens.last_used_interval;
