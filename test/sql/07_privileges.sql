-- Privileges: PUBLIC gets the pure functions only; a validator role gets
-- exactly api_token_validate.
\i test/sql/setup/common.sql
\set VERBOSITY terse
SET api_tokens.last_used_interval = '1d';

SELECT p.oid::regprocedure AS function,
       has_function_privilege('public', p.oid, 'EXECUTE') AS public_execute,
       p.prosecdef AS security_definer,
       p.proconfig AS settings
  FROM pg_proc p
 WHERE p.pronamespace = 'public'::regnamespace
   AND (p.proname LIKE 'api_token%')
 ORDER BY p.oid::regprocedure::text;
SELECT privilege, has_table_privilege('public', 'api_tokens', privilege) AS public_has
  FROM unnest(ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER']) AS privilege;

INSERT INTO users (id, email) VALUES ('00000000-0000-0000-0000-000000000007', 'grace@example.com');
SELECT token_id, token FROM api_token_create('00000000-0000-0000-0000-000000000007', 'p', '{read}') \gset

CREATE ROLE validator LOGIN;
CREATE ROLE nobody LOGIN;
GRANT EXECUTE ON FUNCTION api_token_validate(text, text[]) TO validator;

SET ROLE validator;
SELECT status, user_id FROM api_token_validate(:'token', '{read}');
\set VERBOSITY sqlstate
SELECT count(*) FROM api_tokens;
SELECT token_hash FROM api_tokens;
UPDATE api_tokens SET is_active = true;
SELECT * FROM api_token_create('00000000-0000-0000-0000-000000000007', 'x');
SELECT api_token_revoke(:'token_id');
SELECT api_token_revoke_user('00000000-0000-0000-0000-000000000007');
SELECT api_token_revoke_leaked(ARRAY[:'token']);
SELECT * FROM api_token_rotate(:'token_id');
SELECT api_tokens_create_table('users');
SELECT api_tokens_check_table();
\set VERBOSITY terse
-- The pure functions are public.
SELECT api_token_is_wellformed(:'token') AS wellformed, length(api_token_generate()) AS length,
       api_token_hash(:'token') IS NOT NULL AS hashed, api_token_prefix(:'token') = left(:'token', 8) AS prefix;
RESET ROLE;

SET ROLE nobody;
\set VERBOSITY sqlstate
SELECT * FROM api_token_validate(:'token');
SELECT count(*) FROM api_tokens;
\set VERBOSITY terse
SELECT * FROM api_token_validate(:'token');
RESET ROLE;

-- Validation cannot be steered by the caller's search_path.
CREATE SCHEMA evil;
CREATE TABLE evil.api_tokens (LIKE api_tokens);
GRANT USAGE ON SCHEMA evil TO validator;
GRANT ALL ON evil.api_tokens TO validator;
SET ROLE validator;
SET search_path = evil, public;
SELECT status FROM public.api_token_validate(:'token');
RESET search_path;
RESET ROLE;
-- Nor its last_used_at write, made at commit in a new backend under the
-- hostile path; the caller's path is left as it was.
UPDATE api_tokens SET last_used_at = '2000-01-01 00:00:00+00' WHERE id = :'token_id';
\c
SET api_tokens.last_used_interval = 0;
SET ROLE validator;
SET search_path = evil, public;
SELECT status FROM public.api_token_validate(:'token');
SHOW search_path;
RESET search_path;
RESET ROLE;
SELECT last_used_at > now() - interval '1 minute' AS recorded_in_real_table FROM api_tokens
 WHERE id = :'token_id';
SELECT count(*) AS rows_in_evil_table FROM evil.api_tokens;
SET api_tokens.last_used_interval = '1d';
DROP SCHEMA evil CASCADE;

REVOKE ALL ON FUNCTION api_token_validate(text, text[]) FROM validator;
DROP ROLE validator;
DROP ROLE nobody;
RESET api_tokens.last_used_interval;
