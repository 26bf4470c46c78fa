-- Where the users table lives: api_tokens.users_table, read at install time,
-- and api_tokens_create_table() for later.  Also shows that validation
-- follows the table when it is dropped and created again.
\i test/sql/setup/common.sql
\set VERBOSITY terse
-- The user of 03_create, also when this file runs alone.
INSERT INTO users (id, email) VALUES ('00000000-0000-0000-0000-000000000001', 'alice@example.com')
    ON CONFLICT DO NOTHING;

SELECT token FROM api_token_create('00000000-0000-0000-0000-000000000001', 'before') \gset
SELECT status FROM api_token_validate(:'token');

DROP EXTENSION api_tokens;
DROP TABLE api_tokens;

-- users in another schema.
CREATE SCHEMA auth;
CREATE TABLE auth.users (id uuid PRIMARY KEY);
INSERT INTO auth.users VALUES ('00000000-0000-0000-0000-0000000000a1');
SET api_tokens.users_table = 'auth.users';
CREATE EXTENSION api_tokens;
RESET api_tokens.users_table;
SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = 'fk_api_tokens_user_id';
SELECT token FROM api_token_create('00000000-0000-0000-0000-0000000000a1', 'auth user') \gset
SELECT status, user_id FROM api_token_validate(:'token');
DELETE FROM auth.users;
SELECT status FROM api_token_validate(:'token');

-- A users table whose id is not a uuid is refused at install.
DROP EXTENSION api_tokens;
DROP TABLE api_tokens;
CREATE TABLE int_users (id integer PRIMARY KEY);
SET api_tokens.users_table = 'int_users';
CREATE EXTENSION api_tokens;
-- A name that does not resolve: installs with a warning, no table.
SET api_tokens.users_table = 'nowhere.users';
CREATE EXTENSION api_tokens;
RESET api_tokens.users_table;
SELECT to_regclass('api_tokens') IS NULL AS no_table;

-- Created later, by hand: an ordinary table, not an extension member.
SELECT api_tokens_create_table('auth.users');
SELECT count(*) AS api_tokens_is_member
  FROM pg_depend
 WHERE refclassid = 'pg_extension'::regclass AND deptype = 'e' AND classid = 'pg_class'::regclass
   AND objid = 'api_tokens'::regclass;
INSERT INTO auth.users VALUES ('00000000-0000-0000-0000-0000000000a2');
SELECT token FROM api_token_create('00000000-0000-0000-0000-0000000000a2', 'later') \gset
SELECT status FROM api_token_validate(:'token');
SELECT api_tokens_create_table('auth.users');
SELECT api_tokens_create_table('int_users');
SELECT api_tokens_create_table('no_such_table');

-- Back to the users table the later tests use.
DROP EXTENSION api_tokens;
DROP TABLE api_tokens;
CREATE EXTENSION api_tokens;
SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = 'fk_api_tokens_user_id';
