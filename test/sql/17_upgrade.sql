-- 1.0 -> 1.1: a database still at 1.0 keeps working with the new library;
-- ALTER EXTENSION ... UPDATE keeps every token, status and grant.
-- (test/scripts/upgrade.sh compares an updated and a fresh installation.)
\set VERBOSITY terse
SET client_min_messages = warning;
CREATE DATABASE upgrade_test TEMPLATE template0;
\c upgrade_test
SET client_min_messages = warning;
\set VERBOSITY terse
SET api_tokens.last_used_interval = '1d';
CREATE TABLE users (id uuid PRIMARY KEY);
INSERT INTO users VALUES ('00000000-0000-0000-0000-000000000010');
CREATE EXTENSION api_tokens VERSION '1.0';
SELECT extversion FROM pg_extension WHERE extname = 'api_tokens';

-- 1.0, served by the 1.1 library: the 1.0 functions behave as in 1.0.
CREATE TABLE plain (label text PRIMARY KEY, id uuid, token text);
INSERT INTO plain SELECT label, c.token_id, c.token
  FROM unnest(ARRAY['valid', 'revoked', 'expired', 'rotated', 'successor']) AS label,
       LATERAL api_token_create('00000000-0000-0000-0000-000000000010', label, '{read}') AS c
 WHERE label <> 'successor';
SELECT api_token_revoke(id) FROM plain WHERE label = 'revoked';
UPDATE api_tokens SET expires_at = now() - interval '1 second'
 WHERE id = (SELECT id FROM plain WHERE label = 'expired');
INSERT INTO plain SELECT 'successor', r.token_id, r.token
  FROM api_token_rotate((SELECT id FROM plain WHERE label = 'rotated'), '1 hour') AS r;
-- 1.0 had no lineage: a token in its grace period could be rotated again.
SELECT count(*) AS second_rotation_allowed_in_1_0
  FROM api_token_rotate((SELECT id FROM plain WHERE label = 'rotated'), '1 hour');
SELECT to_regclass('api_token_events') IS NULL AS no_events_in_1_0;
CREATE TABLE before AS
SELECT p.label, v.status, v.token_id = p.id AS same_id FROM plain p, LATERAL api_token_validate(p.token, '{read}') v;
SELECT * FROM before ORDER BY label;

-- Privileges granted by the administrator on 1.0 functions.
CREATE ROLE upgrade_app;
GRANT EXECUTE ON FUNCTION api_token_validate(text, text[]), api_token_rotate(uuid, interval)
   TO upgrade_app;

ALTER EXTENSION api_tokens UPDATE;
SELECT extversion FROM pg_extension WHERE extname = 'api_tokens';

-- Every token validates as before the update.
SELECT p.label, v.status, b.status AS before
  FROM plain p JOIN before b USING (label), LATERAL api_token_validate(p.token, '{read}') v
 WHERE v.status IS DISTINCT FROM b.status OR NOT b.same_id;
SELECT count(*) AS tokens_unchanged FROM plain p JOIN before b USING (label),
       LATERAL api_token_validate(p.token, '{read}') v WHERE v.status = b.status;
-- The grants carried over, to the new rotate too.
SELECT has_function_privilege('upgrade_app', 'api_token_validate(text, text[])', 'EXECUTE') AS validate,
       has_function_privilege('upgrade_app', 'api_token_rotate(uuid, interval, timestamptz)', 'EXECUTE') AS rotate;
-- 1.1 from now on: lineage and events for tokens of 1.0 too.
SELECT token_id AS next_id FROM api_token_rotate((SELECT id FROM plain WHERE label = 'valid')) \gset
SELECT status FROM api_token_validate((SELECT token FROM plain WHERE label = 'valid'));
SELECT event FROM api_token_events ORDER BY id;
\set VERBOSITY sqlstate
SELECT * FROM api_token_rotate((SELECT id FROM plain WHERE label = 'valid'));
\set VERBOSITY terse

\c contrib_regression
SET client_min_messages = warning;
DROP DATABASE upgrade_test;
DROP ROLE upgrade_app;
