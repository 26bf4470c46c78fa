-- Attacks by roles that are not superusers, aiming to run their own code
-- with the privileges of the extension's owner (a superuser): every one is
-- refused, and after each the attacker is still not a superuser.
--
-- mallory owns the database, so she owns schema public (PostgreSQL 15) and
-- may drop, create and rename things in it; app_rw is an application role.
\set VERBOSITY terse
SET client_min_messages = warning;
CREATE ROLE mallory LOGIN;
CREATE ROLE app_rw LOGIN;
CREATE DATABASE attack_escalation OWNER mallory TEMPLATE template0;
\c attack_escalation
SET client_min_messages = warning;
\set VERBOSITY terse
-- Each failing statement is rolled back alone, so an attack can be set up
-- in a transaction, shown to fail several ways, and then undone.
\set ON_ERROR_ROLLBACK on

-- What a successful attack would do: make mallory a superuser.
CREATE SCHEMA probe;
CREATE FUNCTION probe.escalated() RETURNS boolean LANGUAGE sql
    AS $$ SELECT rolsuper FROM pg_roles WHERE rolname = 'mallory' $$;

-- The application's users table belongs to the application, that is, to mallory.
CREATE TABLE users (id uuid PRIMARY KEY);
INSERT INTO users VALUES ('00000000-0000-0000-0000-0000000000e1');
ALTER TABLE users OWNER TO mallory;

-------------------------------------------------------------------------------
-- attack_planted_table_before_install: mallory creates api_tokens, with a
-- trigger, before CREATE EXTENSION.  The install refuses to adopt it.
-------------------------------------------------------------------------------
SET ROLE mallory;
CREATE FUNCTION public.escalate() RETURNS trigger LANGUAGE plpgsql
    AS $$ BEGIN ALTER ROLE mallory SUPERUSER; RETURN NEW; END $$;
CREATE TABLE public.api_tokens (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(), user_id uuid NOT NULL REFERENCES users (id),
    name varchar(100) NOT NULL, token_hash varchar(64) NOT NULL UNIQUE,
    token_prefix varchar(8) NOT NULL, scopes varchar(50)[], expires_at timestamptz,
    last_used_at timestamptz, is_active boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now());
CREATE TRIGGER escalate BEFORE INSERT OR UPDATE ON public.api_tokens
    FOR EACH ROW EXECUTE FUNCTION public.escalate();
RESET ROLE;
CREATE EXTENSION api_tokens;
SELECT probe.escalated();
SELECT count(*) AS extension_installed FROM pg_extension WHERE extname = 'api_tokens';

-- Handed to a superuser, the same table is refused for its trigger.
ALTER TABLE public.api_tokens OWNER TO postgres;
CREATE EXTENSION api_tokens;
SELECT probe.escalated();
DROP TABLE public.api_tokens;

-- attack_unrelated_table_adopted: an api_tokens table of another shape, even
-- a superuser's, is refused at install, not when first used.
CREATE TABLE public.api_tokens (id integer PRIMARY KEY, payload text);
CREATE EXTENSION api_tokens;
DROP TABLE public.api_tokens;

-------------------------------------------------------------------------------
-- attack_default_privileges: default privileges granted before the install
-- do not reach the table or the functions.
-------------------------------------------------------------------------------
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT ALL ON TABLES TO app_rw;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT ALL ON SEQUENCES TO app_rw;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT ALL ON FUNCTIONS TO app_rw;
ALTER DEFAULT PRIVILEGES GRANT ALL ON FUNCTIONS TO app_rw;
CREATE EXTENSION api_tokens;
SELECT privilege, has_table_privilege('app_rw', 'api_tokens', privilege) AS app_rw_has,
       has_table_privilege('app_rw', 'api_token_rotations', privilege) AS on_rotations,
       has_table_privilege('app_rw', 'api_token_events', privilege) AS on_events
  FROM unnest(ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES',
                    'TRIGGER']) AS privilege;
SELECT privilege, has_sequence_privilege('app_rw', 'api_token_events_id_seq', privilege) AS app_rw_has
  FROM unnest(ARRAY['USAGE', 'SELECT', 'UPDATE']) AS privilege;
SELECT p.oid::regprocedure AS function, has_function_privilege('app_rw', p.oid, 'EXECUTE') AS app_rw_executes
  FROM pg_proc p WHERE p.pronamespace = 'public'::regnamespace AND p.proname LIKE 'api_token%'
 ORDER BY p.oid::regprocedure::text;
ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE ALL ON TABLES FROM app_rw;
ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE ALL ON SEQUENCES FROM app_rw;
ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE ALL ON FUNCTIONS FROM app_rw;
ALTER DEFAULT PRIVILEGES REVOKE ALL ON FUNCTIONS FROM app_rw;

SELECT token_id AS victim_id, token AS victim
  FROM api_token_create('00000000-0000-0000-0000-0000000000e1', 'victim') \gset
SET api_tokens.last_used_interval = 0;

-------------------------------------------------------------------------------
-- attack_replace_table: the schema owner drops the real table and creates her
-- own, with a trigger, and a row for a token she made up.
-------------------------------------------------------------------------------
BEGIN;
SET ROLE mallory;
DROP TABLE public.api_tokens;
CREATE TABLE public.api_tokens (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(), user_id uuid NOT NULL REFERENCES users (id),
    name varchar(100) NOT NULL, token_hash varchar(64) NOT NULL,
    token_prefix varchar(8) NOT NULL, scopes varchar(50)[], expires_at timestamptz,
    last_used_at timestamptz, is_active boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now());
CREATE UNIQUE INDEX ON public.api_tokens (token_hash);
SELECT api_token_generate() AS made_up \gset
INSERT INTO public.api_tokens (user_id, name, token_hash, token_prefix)
    VALUES ('00000000-0000-0000-0000-0000000000e1', 'made up', api_token_hash(:'made_up'), 'x');
CREATE TRIGGER escalate BEFORE INSERT OR UPDATE ON public.api_tokens
    FOR EACH ROW EXECUTE FUNCTION public.escalate();
RESET ROLE;
SELECT * FROM api_token_validate(:'made_up');
SELECT * FROM api_token_create('00000000-0000-0000-0000-0000000000e1', 'x');
SELECT api_token_revoke_user('00000000-0000-0000-0000-0000000000e1');
SELECT probe.escalated();
ROLLBACK;

-------------------------------------------------------------------------------
-- attack_trigger_by_grantee: a role that was granted TRIGGER on the real
-- table (by mistake) adds a trigger.  The table is refused until it is gone.
-------------------------------------------------------------------------------
BEGIN;
GRANT TRIGGER ON api_tokens TO app_rw;
GRANT EXECUTE ON FUNCTION public.escalate() TO app_rw;
SET ROLE app_rw;
CREATE TRIGGER escalate BEFORE UPDATE ON api_tokens
    FOR EACH ROW EXECUTE FUNCTION public.escalate();
RESET ROLE;
SELECT * FROM api_token_validate(:'victim');
SELECT api_token_revoke(:'victim_id');
SELECT probe.escalated();
ROLLBACK;

-- attack_rule: a rule on the table (only its owner could add one) is refused too.
BEGIN;
CREATE RULE no_revoke AS ON UPDATE TO api_tokens DO INSTEAD NOTHING;
SELECT api_token_revoke(:'victim_id');
ROLLBACK;

-- attack_inheritance_child: rows of a child table are never taken for tokens.
BEGIN;
CREATE TABLE child_tokens () INHERITS (api_tokens);
SELECT * FROM api_token_validate(:'victim');
ROLLBACK;

-- attack_owner_changed: a table handed to another role (as a restore with
-- --no-owner by a non-superuser would create it) is refused, with the fix.
BEGIN;
ALTER TABLE api_tokens OWNER TO mallory;
\set VERBOSITY default
SELECT * FROM api_token_validate(:'victim');
\set VERBOSITY terse
ROLLBACK;

-------------------------------------------------------------------------------
-- attack_schema_rename: mallory renames the extension's schema and creates a
-- new "public" with look-alike functions and a trapped api_tokens table.  The
-- extension's functions reach their table by OID: they keep working on the
-- real one and never call hers.
-------------------------------------------------------------------------------
GRANT CREATE ON DATABASE attack_escalation TO mallory;
SET ROLE mallory;
ALTER SCHEMA public RENAME TO old_public;
CREATE SCHEMA public;
CREATE FUNCTION public.api_token_generate() RETURNS text LANGUAGE plpgsql
    AS $$ BEGIN ALTER ROLE mallory SUPERUSER; RETURN 'pat_x'; END $$;
CREATE FUNCTION public.api_token_hash(text) RETURNS text LANGUAGE plpgsql
    AS $$ BEGIN ALTER ROLE mallory SUPERUSER; RETURN 'x'; END $$;
CREATE TABLE public.api_tokens (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(), user_id uuid NOT NULL,
    name varchar(100) NOT NULL, token_hash varchar(64) NOT NULL UNIQUE,
    token_prefix varchar(8) NOT NULL, scopes varchar(50)[], expires_at timestamptz,
    last_used_at timestamptz, is_active boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now());
CREATE TRIGGER escalate BEFORE INSERT OR UPDATE ON public.api_tokens
    FOR EACH ROW EXECUTE FUNCTION old_public.escalate();
CREATE FUNCTION public.trap() RETURNS trigger LANGUAGE plpgsql
    AS $$ BEGIN ALTER ROLE mallory SUPERUSER; RETURN NULL; END $$;
CREATE TRIGGER trap BEFORE INSERT OR UPDATE OR DELETE ON public.api_tokens
    FOR EACH STATEMENT EXECUTE FUNCTION public.trap();
RESET ROLE;
SELECT status, token_id = :'victim_id' AS real_row FROM old_public.api_token_validate(:'victim');
SELECT token_id IS NOT NULL AS created
  FROM old_public.api_token_create('00000000-0000-0000-0000-0000000000e1', 'after rename');
SELECT token_id IS NOT NULL AS rotated FROM old_public.api_token_rotate(:'victim_id', '1 hour');
SELECT old_public.api_token_revoke_user('00000000-0000-0000-0000-0000000000e1') AS revoked;
SELECT count(*) AS rows_in_her_table FROM public.api_tokens;
SELECT probe.escalated();
SET ROLE mallory;
DROP SCHEMA public CASCADE;
ALTER SCHEMA old_public RENAME TO public;
RESET ROLE;

-------------------------------------------------------------------------------
-- attack_users_table_owner: the owner of the users table drops its primary
-- key, and with it the foreign key: tokens of deleted users would stay
-- valid, so the table is refused until the foreign key is back.
-------------------------------------------------------------------------------
BEGIN;
SET ROLE mallory;
ALTER TABLE users DROP CONSTRAINT users_pkey CASCADE;
RESET ROLE;
\set VERBOSITY default
SELECT * FROM api_token_validate(:'victim');
\set VERBOSITY terse
ROLLBACK;

-- After all of it, mallory is no superuser, and the real table is intact.
SELECT probe.escalated();
SELECT count(*) AS tokens FROM api_tokens;

\c contrib_regression
SET client_min_messages = warning;
DROP DATABASE attack_escalation;
DROP ROLE mallory;
DROP ROLE app_rw;
RESET client_min_messages;
