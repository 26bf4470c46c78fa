-- Attacks through the extension's schema, on the calls applications and
-- jobs make by name.  The extension's own code resolves no name, but its
-- callers do: whoever owns the schema, or may create in it, can plant an
-- overload that a call with other argument types resolves to (a driver
-- binding varchar, an untyped literal), and that receives the token.
-- api_tokens_check_install() names what makes a schema unsafe, the install
-- and update scripts warn about it, and the calls the documentation shows
-- are schema-qualified and typed, so that they reach the extension's
-- functions whatever else the schema holds.
--
-- planter owns the database, and so schema public (PostgreSQL 15 onward).
\set VERBOSITY terse
SET client_min_messages = warning;
CREATE ROLE planter LOGIN;
CREATE ROLE install_app LOGIN;
CREATE DATABASE attack_install OWNER planter TEMPLATE template0;
\c attack_install
SET client_min_messages = warning;
\set VERBOSITY terse
CREATE TABLE users (id uuid PRIMARY KEY);
INSERT INTO users VALUES ('00000000-0000-0000-0000-0000000000a1');

-- The extension in public: the install warns, the check says why.
CREATE EXTENSION api_tokens VERSION '1.0';
ALTER EXTENSION api_tokens UPDATE TO '1.1';
SELECT * FROM api_tokens_check_install();
GRANT EXECUTE ON FUNCTION api_token_validate(text, text[]) TO install_app;
SELECT token AS victim FROM api_token_create('00000000-0000-0000-0000-0000000000a1', 'victim') \gset

-------------------------------------------------------------------------------
-- attack_planted_varchar_overload: planter adds api_token_validate(varchar,
-- text[]), which keeps what it is given.  A driver that binds the token as
-- varchar (JDBC's setString) with an untyped call reaches it; the typed,
-- schema-qualified call reaches the extension.
-------------------------------------------------------------------------------
SET ROLE planter;
CREATE TABLE public.loot (token text);
CREATE FUNCTION public.api_token_validate(token varchar, required_scopes text[] DEFAULT NULL)
RETURNS SETOF api_token_validation LANGUAGE sql SECURITY DEFINER
AS $$ INSERT INTO public.loot VALUES (token);
      SELECT 'valid'::text, NULL::uuid, NULL::uuid, NULL::text[] $$;
RESET ROLE;
SET ROLE install_app;
PREPARE untyped(varchar) AS SELECT status, user_id FROM api_token_validate($1);
EXECUTE untyped(:'victim');
PREPARE typed(varchar) AS SELECT status, user_id FROM public.api_token_validate($1::text, NULL::text[]);
EXECUTE typed(:'victim');
RESET ROLE;
SELECT count(*) AS tokens_caught_by_the_untyped_call FROM public.loot;
SELECT problem, hint FROM api_tokens_check_install() ORDER BY problem;

-------------------------------------------------------------------------------
-- attack_planted_text_overload: api_token_validate(text) makes every call
-- with one argument ambiguous; the typed call with both arguments is not.
-------------------------------------------------------------------------------
SET ROLE planter;
CREATE FUNCTION public.api_token_validate(token text) RETURNS text LANGUAGE sql AS $$ SELECT 'planted' $$;
RESET ROLE;
SELECT status FROM api_token_validate(:'victim');
SELECT status FROM public.api_token_validate(:'victim'::text, NULL::text[]);

-------------------------------------------------------------------------------
-- attack_planted_cron_overloads: the pg_cron jobs of the documentation call
-- api_tokens_purge and api_tokens_expiring.  Overloads taking text catch an
-- untyped literal; the typed calls reach the extension.
-------------------------------------------------------------------------------
SET ROLE planter;
CREATE FUNCTION public.api_tokens_purge(older_than text) RETURNS integer LANGUAGE sql
AS $$ SELECT -1 $$;
CREATE FUNCTION public.api_tokens_expiring(within text)
RETURNS TABLE (token_id uuid, user_id uuid, name text, token_prefix text, expires_at timestamptz)
LANGUAGE sql AS $$ SELECT gen_random_uuid(), '00000000-0000-0000-0000-0000000000a1'::uuid,
                          'invented', 'pat_xxxx', now() + interval '1 day' $$;
RESET ROLE;
SELECT api_tokens_purge('30 days') AS untyped_purge;
SELECT public.api_tokens_purge('30 days'::interval) AS typed_purge;
SELECT count(*) AS untyped_notices FROM api_tokens_expiring('7 days');
SELECT count(*) AS typed_notices FROM public.api_tokens_expiring('7 days'::interval);
SELECT count(*) AS findings FROM api_tokens_check_install();

-------------------------------------------------------------------------------
-- The layout the documentation recommends: a schema of a superuser's that
-- nobody else may create in.  The tables move with ALTER TABLE ... SET
-- SCHEMA, and CREATE EXTENSION adopts them.
-------------------------------------------------------------------------------
DROP FUNCTION public.api_token_validate(varchar, text[]), public.api_token_validate(text),
     public.api_tokens_purge(text), public.api_tokens_expiring(text);
DROP EXTENSION api_tokens;
CREATE SCHEMA api_tokens;
ALTER TABLE public.api_tokens SET SCHEMA api_tokens;
ALTER TABLE public.api_token_rotations SET SCHEMA api_tokens;
ALTER TABLE public.api_token_events SET SCHEMA api_tokens;
SET api_tokens.users_table = 'public.users';
CREATE EXTENSION api_tokens SCHEMA api_tokens;
RESET api_tokens.users_table;
SELECT count(*) AS findings FROM api_tokens.api_tokens_check_install();
SELECT status FROM api_tokens.api_token_validate(:'victim'::text, NULL::text[]) AS moved;
-- planter can neither plant nor rename there.
SET ROLE planter;
CREATE FUNCTION api_tokens.api_token_validate(token varchar, required_scopes text[] DEFAULT NULL)
RETURNS SETOF text LANGUAGE sql AS $$ SELECT 'planted' $$;
ALTER SCHEMA api_tokens RENAME TO elsewhere;
DROP TABLE api_tokens.api_token_events;
RESET ROLE;
-- A grant of CREATE on it is reported.
GRANT CREATE ON SCHEMA api_tokens TO planter;
SELECT problem FROM api_tokens.api_tokens_check_install();
REVOKE CREATE ON SCHEMA api_tokens FROM planter;
SELECT count(*) AS findings FROM api_tokens.api_tokens_check_install();

-------------------------------------------------------------------------------
-- attack_planted_history_table: planter creates api_token_events in the
-- schema before the update to 1.1 creates it.  The update refuses to adopt
-- a table it cannot trust.
-------------------------------------------------------------------------------
DROP EXTENSION api_tokens;
DROP TABLE api_tokens.api_token_rotations, api_tokens.api_token_events;
SET api_tokens.users_table = 'public.users';
CREATE EXTENSION api_tokens SCHEMA api_tokens VERSION '1.0';
RESET api_tokens.users_table;
GRANT USAGE, CREATE ON SCHEMA api_tokens TO planter;
SET ROLE planter;
CREATE TABLE api_tokens.api_token_events (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, at timestamptz NOT NULL,
    token_id uuid NOT NULL, user_id uuid, event text NOT NULL, detail jsonb NOT NULL DEFAULT '{}',
    db_user name NOT NULL, actor text);
CREATE INDEX ON api_tokens.api_token_events (token_id, at);
RESET ROLE;
REVOKE USAGE, CREATE ON SCHEMA api_tokens FROM planter;
ALTER EXTENSION api_tokens UPDATE TO '1.1';
SELECT extversion FROM pg_extension WHERE extname = 'api_tokens';
DROP TABLE api_tokens.api_token_events;
ALTER EXTENSION api_tokens UPDATE TO '1.1';
SELECT extversion FROM pg_extension WHERE extname = 'api_tokens';
SELECT status FROM api_tokens.api_token_validate(:'victim'::text, NULL::text[]) AS after_update;

\c contrib_regression
SET client_min_messages = warning;
DROP DATABASE attack_install;
DROP ROLE planter;
DROP ROLE install_app;
