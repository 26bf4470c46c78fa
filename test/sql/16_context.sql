-- 1.1: the transaction's authenticated token, Row Level Security policies
-- that use it, attempts to forge it, and PostgREST's pre-request hook.
\i test/sql/setup/common.sql
\set VERBOSITY terse
SET api_tokens.last_used_interval = '1d';
INSERT INTO users (id, email) VALUES
    ('00000000-0000-0000-0000-0000000000a7', 'alice@tenant.example'),
    ('00000000-0000-0000-0000-0000000000b7', 'bob@tenant.example');
SELECT token_id AS alice_id, token AS alice
  FROM api_token_create('00000000-0000-0000-0000-0000000000a7', 'alice', '{notes:read,notes:write}') \gset
SELECT token AS bob FROM api_token_create('00000000-0000-0000-0000-0000000000b7', 'bob', '{notes:read}') \gset
SELECT token_id AS revoked_id, token AS revoked
  FROM api_token_create('00000000-0000-0000-0000-0000000000a7', 'revoked') \gset
SELECT api_token_revoke(:'revoked_id');

-- A sample tenant table with policies, read by a role that is not its owner.
CREATE TABLE notes (id serial PRIMARY KEY, owner_id uuid NOT NULL, body text NOT NULL);
INSERT INTO notes (owner_id, body) VALUES
    ('00000000-0000-0000-0000-0000000000a7', 'alice 1'),
    ('00000000-0000-0000-0000-0000000000a7', 'alice 2'),
    ('00000000-0000-0000-0000-0000000000b7', 'bob 1');
ALTER TABLE notes ENABLE ROW LEVEL SECURITY;
CREATE POLICY notes_read ON notes FOR SELECT USING (owner_id = api_token_current_user());
CREATE POLICY notes_write ON notes FOR INSERT
    WITH CHECK (owner_id = api_token_current_user() AND api_token_has_scope('notes:write'));
CREATE ROLE web_user;
GRANT SELECT, INSERT ON notes TO web_user;
GRANT USAGE ON SEQUENCE notes_id_seq TO web_user;
GRANT EXECUTE ON FUNCTION api_token_authenticate(text, text[]), api_token_current_user(),
      api_token_current_token(), api_token_current_scopes(), api_token_has_scope(text),
      api_tokens_pre_request() TO web_user;

-- Nothing authenticated: NULL, false, no rows.
SET ROLE web_user;
SELECT api_token_current_user(), api_token_current_token(), api_token_current_scopes(),
       api_token_has_scope('notes:read');
SELECT count(*) AS visible_notes FROM notes;

-- Authenticated for the transaction.
BEGIN;
SELECT status, user_id FROM api_token_authenticate(:'alice');
SELECT api_token_current_user(), api_token_current_token() = :'alice_id' AS token_ok,
       api_token_current_scopes(), api_token_has_scope('notes:write') AS can_write,
       api_token_has_scope('admin') AS is_admin, api_token_has_scope(NULL) AS null_scope;
SELECT body FROM notes ORDER BY id;
INSERT INTO notes (owner_id, body) VALUES ('00000000-0000-0000-0000-0000000000a7', 'alice 3');
INSERT INTO notes (owner_id, body) VALUES ('00000000-0000-0000-0000-0000000000b7', 'not hers');
COMMIT;

-- The context ends with the transaction: commit ...
SELECT api_token_current_user() AS after_commit;
SELECT count(*) AS visible_after_commit FROM notes;
-- ... and rollback.
BEGIN;
SELECT status FROM api_token_authenticate(:'bob');
SELECT body FROM notes ORDER BY id;
INSERT INTO notes (owner_id, body) VALUES ('00000000-0000-0000-0000-0000000000b7', 'no write scope');
ROLLBACK;
SELECT api_token_current_user() AS after_rollback;

-- A savepoint rolled back takes back what was authenticated inside it.
BEGIN;
SELECT status FROM api_token_authenticate(:'alice');
SAVEPOINT s;
SELECT status FROM api_token_authenticate(:'bob');
SELECT api_token_current_user() AS inside_savepoint;
ROLLBACK TO SAVEPOINT s;
SELECT api_token_current_user() AS after_rollback_to_savepoint;
SAVEPOINT t;
SELECT status FROM api_token_authenticate(:'bob');
RELEASE SAVEPOINT t;
SELECT api_token_current_user() AS after_release;
COMMIT;

-- A token that is not valid authenticates nothing, and ends an earlier
-- authentication in the same transaction.
BEGIN;
SELECT status FROM api_token_authenticate(:'alice');
SELECT status FROM api_token_authenticate(:'revoked');
SELECT api_token_current_user() AS after_invalid, count(*) AS visible FROM notes;
SELECT status FROM api_token_authenticate('junk');
SELECT status FROM api_token_authenticate(:'alice', '{admin}');
SELECT api_token_current_user() AS after_insufficient_scope;
COMMIT;

-- attack_forge_context: whatever a client sets, with SET or set_config(), the
-- context stays empty: it is kept in no setting.
\set ON_ERROR_ROLLBACK on
BEGIN;
SELECT set_config(name, '00000000-0000-0000-0000-0000000000a7', true) IS NOT NULL AS set
  FROM unnest(ARRAY['api_tokens.user_id', 'api_tokens.current_user', 'api_tokens.token_id',
                    'api_tokens.context', 'api_tokens.authenticated']) AS name;
SELECT set_config('api_tokens.actor', '00000000-0000-0000-0000-0000000000a7', true) IS NOT NULL AS set;
SELECT set_config('api_tokens.brand', 'alice', true) IS NOT NULL AS set;
SET LOCAL request.jwt.claims = '{"sub": "00000000-0000-0000-0000-0000000000a7"}';
SET LOCAL request.headers = '{"x-api-key": "not a token"}';
SELECT name FROM pg_settings WHERE name LIKE 'api_tokens.%' ORDER BY name;
SELECT api_token_current_user() AS forged, api_token_has_scope('notes:read') AS forged_scope,
       count(*) AS visible FROM notes;
ROLLBACK;
\set ON_ERROR_ROLLBACK off
RESET ROLE;
-- Superuser-only settings stay that way for others.
SET ROLE web_user;
SET api_tokens.last_used_interval = 0;
SET api_tokens.max_lifetime = 0;
RESET ROLE;

-------------------------------------------------------------------------------
-- api_tokens_pre_request, as PostgREST runs it: headers in request.headers.
-------------------------------------------------------------------------------
SET ROLE web_user;
-- No token: anonymous, no error.
BEGIN READ ONLY;
SELECT set_config('request.headers', '{"accept": "application/json"}', true) IS NOT NULL AS set;
SELECT api_tokens_pre_request();
SELECT api_token_current_user() AS anonymous, count(*) AS visible FROM notes;
COMMIT;
BEGIN READ ONLY;
SELECT api_tokens_pre_request();
SELECT api_token_current_user() AS no_headers;
COMMIT;
-- Authorization: Bearer, any case, in a READ ONLY transaction.
BEGIN READ ONLY;
SELECT set_config('request.headers', json_build_object('authorization', 'bearer ' || :'alice')::text,
                  true) IS NOT NULL AS set;
SELECT api_tokens_pre_request();
SELECT api_token_current_user(), count(*) AS visible FROM notes;
COMMIT;
-- x-api-key.
BEGIN READ ONLY;
SELECT set_config('request.headers', json_build_object('x-api-key', :'bob')::text, true) IS NOT NULL AS set;
SELECT api_tokens_pre_request();
SELECT api_token_current_user(), count(*) AS visible FROM notes;
COMMIT;
-- A JWT in the bearer is PostgREST's business: no context, no error.
BEGIN READ ONLY;
SELECT set_config('request.headers', '{"authorization": "Bearer eyJhbGciOiJIUzI1NiJ9.eyJyb2xlIjoid2ViX3VzZXIifQ.c2ln"}', true) IS NOT NULL AS set;
SELECT api_tokens_pre_request();
SELECT api_token_current_user() AS jwt_left_alone;
COMMIT;
-- Other schemes are not tokens either.
BEGIN READ ONLY;
SELECT set_config('request.headers', '{"authorization": "Basic YWxhZGRpbjpvcGVuc2VzYW1l"}', true) IS NOT NULL AS set;
SELECT api_tokens_pre_request();
COMMIT;
-- A presented token that is not valid: PT401, without the token.
\set VERBOSITY default
BEGIN READ ONLY;
SELECT set_config('request.headers', json_build_object('x-api-key', :'revoked')::text, true) IS NOT NULL AS set;
SELECT api_tokens_pre_request();
ROLLBACK;
BEGIN READ ONLY;
SELECT set_config('request.headers', '{"authorization": "Bearer pat_0000000000000000000000000000002C8GjT"}', true) IS NOT NULL AS set;
SELECT api_tokens_pre_request();
ROLLBACK;
BEGIN READ ONLY;
SELECT set_config('request.headers', json_build_object('x-api-key', repeat('x', 100000))::text, true) IS NOT NULL AS set;
SELECT api_tokens_pre_request();
ROLLBACK;
-- Headers that cannot be read may hide a token: refused the same way.
BEGIN READ ONLY;
SELECT set_config('request.headers', 'not json', true) IS NOT NULL AS set;
SELECT api_tokens_pre_request();
ROLLBACK;
BEGIN READ ONLY;
SELECT set_config('request.headers', '{"x-api-key": "a", "x-api-key": "b"}', true) IS NOT NULL AS set;
SELECT api_tokens_pre_request();
ROLLBACK;
BEGIN READ ONLY;
SELECT set_config('request.headers', '{"x-api-key": ["pat_x"]}', true) IS NOT NULL AS set;
SELECT api_tokens_pre_request();
ROLLBACK;
\set VERBOSITY terse

-- attack_pre_request_keeps_context: a request without a token, in a
-- transaction that authenticated before, is anonymous: the earlier token's
-- user does not carry over.
BEGIN READ ONLY;
SELECT set_config('request.headers', json_build_object('x-api-key', :'alice')::text, true) IS NOT NULL AS set;
SELECT api_tokens_pre_request();
SELECT set_config('request.headers', '{"accept": "*/*"}', true) IS NOT NULL AS set;
SELECT api_tokens_pre_request();
SELECT api_token_current_user() AS after_anonymous_request, count(*) AS visible FROM notes;
COMMIT;
RESET ROLE;

-- Role without the grants: no context functions.
CREATE ROLE outsider;
SET ROLE outsider;
\set VERBOSITY sqlstate
SELECT api_token_current_user();
SELECT * FROM api_token_authenticate(:'alice');
\set VERBOSITY terse
RESET ROLE;
DROP ROLE outsider;

DROP TABLE notes;
REVOKE ALL ON FUNCTION api_token_authenticate(text, text[]), api_token_current_user(),
       api_token_current_token(), api_token_current_scopes(), api_token_has_scope(text),
       api_tokens_pre_request() FROM web_user;
DROP ROLE web_user;
RESET api_tokens.last_used_interval;

-------------------------------------------------------------------------------
-- attack_unicode_escape_in_header: PostgREST writes header values as JSON,
-- with \u escapes for characters beyond ASCII.  In a database whose encoding
-- lacks such a character, the server's JSON parser fails (22P05) whatever
-- header holds it.  The pre-request reads only the two headers it needs: a
-- header it does not read cannot fail the request, and one that would hold
-- the token is refused with PT401, like any token that is not valid.
-------------------------------------------------------------------------------
CREATE DATABASE context_latin1 ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0;
\c context_latin1
SET client_min_messages = warning;
CREATE TABLE users (id uuid PRIMARY KEY);
CREATE EXTENSION api_tokens;
INSERT INTO users VALUES ('00000000-0000-0000-0000-00000000c0de');
SELECT token AS latin1_token FROM api_token_create('00000000-0000-0000-0000-00000000c0de', 'latin1') \gset
BEGIN READ ONLY;
SELECT set_config('request.headers', '{"user-agent": "caf\u00e9 \u4e2d\u6587", "x-api-key": "' || :'latin1_token' || '"}', true) IS NOT NULL AS set;
SELECT api_tokens_pre_request();
SELECT api_token_current_user() AS authenticated_despite_other_header;
COMMIT;
\set VERBOSITY default
BEGIN READ ONLY;
SELECT set_config('request.headers', '{"x-api-key": "pat_\u4e2d\u6587"}', true) IS NOT NULL AS set;
SELECT api_tokens_pre_request();
ROLLBACK;
BEGIN READ ONLY;
SELECT set_config('request.headers', '{"authorization": "Bearer \u4e2d"}', true) IS NOT NULL AS set;
SELECT api_tokens_pre_request();
ROLLBACK;
\set VERBOSITY terse
\c contrib_regression
DROP DATABASE context_latin1;
