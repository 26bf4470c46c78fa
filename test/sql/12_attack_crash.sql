-- Attacks on the server's stability through data the extension does not
-- control: stored results, rows of a table its owner reshaped, and huge
-- scope lists.  None crashes a backend (the test runner checks the server
-- log for signals), none returns valid on data it cannot trust, and every
-- long computation can be cancelled.
\i test/sql/setup/common.sql
\set VERBOSITY terse
SET api_tokens.last_used_interval = '1d';
INSERT INTO users (id, email) VALUES ('00000000-0000-0000-0000-0000000000c1', 'crash@example.com');
SELECT token_id, token
  FROM api_token_create('00000000-0000-0000-0000-0000000000c1', 'crash', '{read}') \gset

-------------------------------------------------------------------------------
-- attack_stored_result_record_type: a result stored as a value is of the
-- declared type, readable by any other session.
-------------------------------------------------------------------------------
CREATE TABLE audit (v api_token_validation);
INSERT INTO audit (v) SELECT api_token_validate(:'token');
INSERT INTO audit (v) SELECT api_token_validate('junk');
SELECT pg_typeof(api_token_validate(:'token'));
\c
SET api_tokens.last_used_interval = '1d';
\set VERBOSITY terse
-- A new session registers anonymous record types of its own first.
SELECT ROW(1, 'x'), ROW(2, 'y', date '2000-01-01'), ROW(ROW(1), 2.5);
SELECT (v).status, (v).token_id = :'token_id' AS id_ok, (v).scopes FROM audit ORDER BY 1 DESC;
SELECT v::text LIKE '(valid,%' AS readable FROM audit WHERE (v).status = 'valid';
DROP TABLE audit;

-------------------------------------------------------------------------------
-- attack_null_columns: the table's owner lets columns hold NULL.  Validation
-- refuses the table until the constraint is back, and never reads a NULL as
-- a value.
-------------------------------------------------------------------------------
BEGIN;
ALTER TABLE api_tokens ALTER COLUMN user_id DROP NOT NULL;
UPDATE api_tokens SET user_id = NULL WHERE id = :'token_id';
SELECT * FROM api_token_validate(:'token');
ROLLBACK;
BEGIN;
ALTER TABLE api_tokens ALTER COLUMN is_active DROP NOT NULL;
UPDATE api_tokens SET is_active = NULL WHERE id = :'token_id';
SELECT * FROM api_token_validate(:'token');
ROLLBACK;
-- NULL where NULL is allowed: no scopes, no expiry, never used.
BEGIN;
UPDATE api_tokens SET scopes = NULL, expires_at = NULL, last_used_at = NULL
 WHERE id = :'token_id';
SELECT status, scopes FROM api_token_validate(:'token');
SELECT status FROM api_token_validate(:'token', '{read}');
ROLLBACK;
-- NULL elements inside the stored scopes never match a required scope.
BEGIN;
UPDATE api_tokens SET scopes = ARRAY[NULL, 'read', NULL]::varchar[] WHERE id = :'token_id';
SELECT status, scopes FROM api_token_validate(:'token', '{read}');
SELECT status FROM api_token_validate(:'token', '{write}');
ROLLBACK;

-------------------------------------------------------------------------------
-- attack_odd_shapes: other types, extra and dropped columns, a reordered
-- table, a missing primary key.
-------------------------------------------------------------------------------
BEGIN;
ALTER TABLE api_tokens ALTER COLUMN scopes TYPE text USING array_to_string(scopes, ',');
SELECT * FROM api_token_validate(:'token');
ROLLBACK;
BEGIN;
ALTER TABLE api_tokens ALTER COLUMN expires_at TYPE timestamp;
SELECT * FROM api_token_validate(:'token');
ROLLBACK;
BEGIN;
ALTER TABLE api_tokens DROP CONSTRAINT api_tokens_pkey;
SELECT api_token_revoke(:'token_id');
ROLLBACK;
BEGIN;
ALTER TABLE api_tokens DROP COLUMN last_used_at;
SELECT * FROM api_token_validate(:'token');
ROLLBACK;
-- Extra columns, with defaults or without, and a dropped one: all fine.
BEGIN;
ALTER TABLE api_tokens ADD COLUMN scratch int, ADD COLUMN note text NOT NULL DEFAULT 'n/a',
    ADD COLUMN seq bigint GENERATED ALWAYS AS IDENTITY;
ALTER TABLE api_tokens DROP COLUMN scratch;
SELECT status FROM api_token_validate(:'token', '{read}');
SELECT token AS extra_token
  FROM api_token_create('00000000-0000-0000-0000-0000000000c1', 'extra columns') \gset
SELECT note, seq IS NOT NULL AS numbered FROM api_tokens WHERE name = 'extra columns';
SELECT status FROM api_token_validate(:'extra_token');
ROLLBACK;
-- Constraints of the owner hold for rows the extension writes, and their
-- messages do not show the token's hash.
BEGIN;
ALTER TABLE api_tokens ADD CONSTRAINT short_names CHECK (length(name) < 5) NOT VALID;
\set VERBOSITY default
SELECT * FROM api_token_create('00000000-0000-0000-0000-0000000000c1', 'too long');
\set VERBOSITY terse
ROLLBACK;

-------------------------------------------------------------------------------
-- attack_huge_scopes: scope lists given by callers are bounded, and a huge
-- list stored in a row costs time linear in its size and can be cancelled.
-------------------------------------------------------------------------------
\set VERBOSITY sqlstate
SELECT status FROM api_token_validate(:'token',
    (SELECT array_agg('s' || i) FROM generate_series(1, 257) AS i));
SELECT * FROM api_token_create('00000000-0000-0000-0000-0000000000c1', 'many',
    (SELECT array_agg('s' || i) FROM generate_series(1, 257) AS i));
\set VERBOSITY terse
SELECT status FROM api_token_validate(:'token',
    (SELECT array_agg('s' || i) FROM generate_series(1, 256) AS i));
SELECT token_id IS NOT NULL AS created FROM api_token_create('00000000-0000-0000-0000-0000000000c1',
    'many', (SELECT array_agg('s' || i) FROM generate_series(1, 256) AS i));

BEGIN;
UPDATE api_tokens SET scopes = (SELECT array_agg('s' || i) FROM generate_series(1, 1000000) AS i)
 WHERE id = :'token_id';
-- The last of a million scopes, and one that is not there.
SELECT status FROM api_token_validate(:'token', '{s1000000}');
SELECT status FROM api_token_validate(:'token', '{absent}');
-- The last 256 of a million scopes, each found at the end of the list
-- (256 million comparisons, a second or more): cancelled by a timeout.
SET LOCAL statement_timeout = '100ms';
\set VERBOSITY sqlstate
SELECT status FROM api_token_validate(:'token',
    (SELECT array_agg('s' || i) FROM generate_series(999745, 1000000) AS i));
\set VERBOSITY terse
ROLLBACK;

RESET api_tokens.last_used_interval;
