/* api_tokens 1.0 -> 1.1 */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION api_tokens UPDATE TO '1.1'" to load this file. \quit

-------------------------------------------------------------------------------
-- The tokens' history: rotation lineage (api_token_rotations) and events
-- (api_token_events).  Like api_tokens, and for the same reasons, they are
-- created by the extension and then released from it: ordinary tables of
-- the application's database, dumped and restored with its data, kept by
-- DROP EXTENSION (so that a reinstall loses neither the lineage nor the
-- audit trail), and adopted again, if they can be trusted, by CREATE
-- EXTENSION.  They are created with api_tokens: now if it exists, else by
-- api_tokens_create_table().
-------------------------------------------------------------------------------

CREATE FUNCTION @extschema@.api_tokens_create_history_tables()
RETURNS void
AS 'MODULE_PATHNAME', 'api_tokens_create_history_tables'
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp;

REVOKE ALL ON FUNCTION @extschema@.api_tokens_create_history_tables() FROM PUBLIC;

COMMENT ON FUNCTION @extschema@.api_tokens_create_history_tables() IS
'creates api_token_rotations and api_token_events beside api_tokens, or checks the ones there';

DO $history$
BEGIN
    IF pg_catalog.to_regclass('@extschema@.api_tokens') IS NOT NULL THEN
        PERFORM @extschema@.api_tokens_create_history_tables();
    END IF;
END
$history$;

-------------------------------------------------------------------------------
-- Rotation: the successor may get its own expiry.  The function is
-- replaced (its argument list changes); privileges granted on the 1.0
-- function carry over.
-------------------------------------------------------------------------------

DO $rotate$
DECLARE
    grants text[];
    grant_statement text;
BEGIN
    SELECT pg_catalog.array_agg(pg_catalog.format(
               'GRANT EXECUTE ON FUNCTION @extschema@.api_token_rotate(uuid, interval, timestamptz) TO %s%s',
               CASE WHEN a.grantee OPERATOR(pg_catalog.=) 0 THEN 'PUBLIC'
                    ELSE pg_catalog.quote_ident(r.rolname) END,
               CASE WHEN a.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END))
      INTO grants
      FROM pg_catalog.pg_proc p
     CROSS JOIN LATERAL pg_catalog.aclexplode(p.proacl) a
      LEFT JOIN pg_catalog.pg_roles r ON r.oid OPERATOR(pg_catalog.=) a.grantee
     WHERE p.oid OPERATOR(pg_catalog.=)
           '@extschema@.api_token_rotate(uuid, interval)'::pg_catalog.regprocedure
       AND a.grantee OPERATOR(pg_catalog.<>) p.proowner
       AND a.privilege_type OPERATOR(pg_catalog.=) 'EXECUTE';

    DROP FUNCTION @extschema@.api_token_rotate(uuid, interval);
    CREATE FUNCTION @extschema@.api_token_rotate(
        token_id uuid, grace interval DEFAULT '0', expires_at timestamptz DEFAULT NULL)
    RETURNS TABLE (token_id uuid, token text)
    AS 'MODULE_PATHNAME', 'api_token_rotate'
    LANGUAGE C VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    ROWS 1;
    REVOKE ALL ON FUNCTION @extschema@.api_token_rotate(uuid, interval, timestamptz) FROM PUBLIC;
    -- Not what default privileges would give the new function ...
    FOR grant_statement IN
        SELECT pg_catalog.format(
                   'REVOKE ALL ON FUNCTION @extschema@.api_token_rotate(uuid, interval, timestamptz) FROM %I CASCADE',
                   r.rolname)
          FROM pg_catalog.pg_proc p
         CROSS JOIN LATERAL pg_catalog.aclexplode(p.proacl) a
          JOIN pg_catalog.pg_roles r ON r.oid OPERATOR(pg_catalog.=) a.grantee
         WHERE p.oid OPERATOR(pg_catalog.=)
               '@extschema@.api_token_rotate(uuid, interval, timestamptz)'::pg_catalog.regprocedure
           AND a.grantee OPERATOR(pg_catalog.<>) p.proowner
    LOOP
        EXECUTE grant_statement;
    END LOOP;
    -- ... but what was granted on the old one.
    FOREACH grant_statement IN ARRAY coalesce(grants, '{}') LOOP
        EXECUTE grant_statement;
    END LOOP;
END
$rotate$;

COMMENT ON FUNCTION @extschema@.api_token_rotate(uuid, interval, timestamptz) IS
'issues a successor (same user, name and scopes; expiry kept unless given); the old token stops at once or after grace; a token is rotated once';

COMMENT ON FUNCTION @extschema@.api_token_validate(text, text[]) IS
'one row: valid, malformed, unknown, inactive, expired, rotated or insufficient_scope; records last use';

CREATE FUNCTION @extschema@.api_token_revoke_family(token_id uuid)
RETURNS integer
AS 'MODULE_PATHNAME', 'api_token_revoke_family'
LANGUAGE C VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

REVOKE ALL ON FUNCTION @extschema@.api_token_revoke_family(uuid) FROM PUBLIC;

COMMENT ON FUNCTION @extschema@.api_token_revoke_family(uuid) IS
'deactivates every active token of the token''s lineage (its predecessors and successors); returns how many';

CREATE FUNCTION @extschema@.api_token_successor(token_id uuid)
RETURNS uuid
AS 'MODULE_PATHNAME', 'api_token_successor'
LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;

REVOKE ALL ON FUNCTION @extschema@.api_token_successor(uuid) FROM PUBLIC;

COMMENT ON FUNCTION @extschema@.api_token_successor(uuid) IS
'the token that replaced this one, if it was rotated out (also during its grace period); NULL otherwise';

-------------------------------------------------------------------------------
-- The end of a token's life: notices before expiry, and purging.
-------------------------------------------------------------------------------

CREATE FUNCTION @extschema@.api_tokens_expiring(within interval)
RETURNS TABLE (token_id uuid, user_id uuid, name text, token_prefix text, expires_at timestamptz)
AS 'MODULE_PATHNAME', 'api_tokens_expiring'
LANGUAGE C VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

REVOKE ALL ON FUNCTION @extschema@.api_tokens_expiring(interval) FROM PUBLIC;

COMMENT ON FUNCTION @extschema@.api_tokens_expiring(interval) IS
'active tokens (not rotated out) that expire within the interval from now, for expiry notices';

CREATE FUNCTION @extschema@.api_tokens_purge(older_than interval DEFAULT '30 days')
RETURNS integer
AS 'MODULE_PATHNAME', 'api_tokens_purge'
LANGUAGE C VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

REVOKE ALL ON FUNCTION @extschema@.api_tokens_purge(interval) FROM PUBLIC;

COMMENT ON FUNCTION @extschema@.api_tokens_purge(interval) IS
'deletes tokens revoked, rotated out or expired longer ago than older_than (never an active one); returns how many';

-------------------------------------------------------------------------------
-- Authorization inside the database: the transaction's authenticated token,
-- for Row Level Security policies and PostgREST.
-------------------------------------------------------------------------------

-- Like api_token_validate, which it is: no privilege needed, no writes.
CREATE FUNCTION @extschema@.api_token_authenticate(token text, required_scopes text[] DEFAULT NULL)
RETURNS SETOF @extschema@.api_token_validation
AS 'MODULE_PATHNAME', 'api_token_authenticate'
LANGUAGE C VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
ROWS 1;

REVOKE ALL ON FUNCTION @extschema@.api_token_authenticate(text, text[]) FROM PUBLIC;

COMMENT ON FUNCTION @extschema@.api_token_authenticate(text, text[]) IS
'validates like api_token_validate; a valid token becomes the transaction''s authenticated token';

-- The context lives in the backend that authenticated, so the functions
-- that read it are PARALLEL RESTRICTED (parallel workers do not have it).
CREATE FUNCTION @extschema@.api_token_current_user()
RETURNS uuid
AS 'MODULE_PATHNAME', 'api_token_current_user'
LANGUAGE C STABLE PARALLEL RESTRICTED;

CREATE FUNCTION @extschema@.api_token_current_token()
RETURNS uuid
AS 'MODULE_PATHNAME', 'api_token_current_token'
LANGUAGE C STABLE PARALLEL RESTRICTED;

CREATE FUNCTION @extschema@.api_token_current_scopes()
RETURNS text[]
AS 'MODULE_PATHNAME', 'api_token_current_scopes'
LANGUAGE C STABLE PARALLEL RESTRICTED;

CREATE FUNCTION @extschema@.api_token_has_scope(scope text)
RETURNS boolean
AS 'MODULE_PATHNAME', 'api_token_has_scope'
LANGUAGE C STABLE CALLED ON NULL INPUT PARALLEL RESTRICTED;

REVOKE ALL ON FUNCTION @extschema@.api_token_current_user() FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.api_token_current_token() FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.api_token_current_scopes() FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.api_token_has_scope(text) FROM PUBLIC;

COMMENT ON FUNCTION @extschema@.api_token_current_user() IS
'the user of the transaction''s authenticated token, or NULL';
COMMENT ON FUNCTION @extschema@.api_token_current_token() IS
'the id of the transaction''s authenticated token, or NULL';
COMMENT ON FUNCTION @extschema@.api_token_current_scopes() IS
'the scopes of the transaction''s authenticated token, or NULL';
COMMENT ON FUNCTION @extschema@.api_token_has_scope(text) IS
'true if the transaction''s authenticated token has the scope';

CREATE FUNCTION @extschema@.api_tokens_pre_request()
RETURNS void
AS 'MODULE_PATHNAME', 'api_tokens_pre_request'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

REVOKE ALL ON FUNCTION @extschema@.api_tokens_pre_request() FROM PUBLIC;

COMMENT ON FUNCTION @extschema@.api_tokens_pre_request() IS
'PostgREST db-pre-request: authenticates the token of x-api-key or Authorization: Bearer; raises PT401 (HTTP 401) for one that is not valid';

-------------------------------------------------------------------------------
-- Last use recorded in shared memory (shared_preload_libraries =
-- 'api_tokens'): what standbys forward, and the worker's state.
-------------------------------------------------------------------------------

-- Called by a standby's worker on the primary, through libpq, as the role
-- of api_tokens.forward_conninfo or primary_conninfo: grant it EXECUTE.
CREATE FUNCTION @extschema@.api_tokens_record_uses(token_ids uuid[], used_at timestamptz[])
RETURNS integer
AS 'MODULE_PATHNAME', 'api_tokens_record_uses'
LANGUAGE C VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE;

REVOKE ALL ON FUNCTION @extschema@.api_tokens_record_uses(uuid[], timestamptz[]) FROM PUBLIC;

COMMENT ON FUNCTION @extschema@.api_tokens_record_uses(uuid[], timestamptz[]) IS
'records uses of tokens seen on a standby (called by the standby''s worker); returns how many';

CREATE FUNCTION @extschema@.api_tokens_last_use_state(
    OUT preloaded boolean, OUT pending bigint, OUT capacity integer, OUT recorded bigint,
    OUT dropped bigint, OUT reuses_dropped bigint, OUT flushed bigint, OUT forwarded bigint,
    OUT received bigint,
    OUT last_flush timestamptz, OUT last_error text, OUT last_error_at timestamptz)
RETURNS record
AS 'MODULE_PATHNAME', 'api_tokens_last_use_state'
LANGUAGE C VOLATILE PARALLEL SAFE;

REVOKE ALL ON FUNCTION @extschema@.api_tokens_last_use_state() FROM PUBLIC;

COMMENT ON FUNCTION @extschema@.api_tokens_last_use_state() IS
'the shared-memory last-use bookkeeping of this server: tokens pending, uses recorded, uses and reuses dropped, uses written, forwarded, received, last flush and error';

CREATE FUNCTION @extschema@.api_tokens_last_use_databases(
    OUT datid oid, OUT pending bigint, OUT reuses_pending bigint, OUT dropped bigint,
    OUT reuses_dropped bigint, OUT failures integer, OUT retry_at timestamptz,
    OUT last_flush timestamptz, OUT last_error text, OUT last_error_at timestamptz)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'api_tokens_last_use_databases'
LANGUAGE C VOLATILE PARALLEL SAFE;

REVOKE ALL ON FUNCTION @extschema@.api_tokens_last_use_databases() FROM PUBLIC;

COMMENT ON FUNCTION @extschema@.api_tokens_last_use_databases() IS
'the shared-memory last-use bookkeeping of this server, per database: pending uses and reuses, what was dropped, the flusher''s failures, last flush and error';

-------------------------------------------------------------------------------
-- The installation: what in the extension's schema lets a role that is not
-- a superuser change what application calls resolve to.
-------------------------------------------------------------------------------

CREATE FUNCTION @extschema@.api_tokens_check_install(OUT problem text, OUT hint text)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'api_tokens_check_install'
LANGUAGE C STABLE
SET search_path = pg_catalog, pg_temp;

REVOKE ALL ON FUNCTION @extschema@.api_tokens_check_install() FROM PUBLIC;

COMMENT ON FUNCTION @extschema@.api_tokens_check_install() IS
'what makes the extension''s schema unsafe to call into by name (an owner or a role with CREATE who is not a superuser, look-alike functions); no row when there is nothing';

-------------------------------------------------------------------------------
-- Privileges of what this script created are exactly the ones granted
-- above.  Default privileges (ALTER DEFAULT PRIVILEGES ... GRANT) may have
-- given the new functions to other roles: take that back (the history
-- tables' own were taken back as they were created).  The 1.0 functions
-- keep whatever their administrator granted.
-------------------------------------------------------------------------------

DO $privileges$
DECLARE
    object text;
    grantee name;
BEGIN
    FOR object, grantee IN
        SELECT DISTINCT 'FUNCTION ' OPERATOR(pg_catalog.||) p.oid::pg_catalog.regprocedure, r.rolname
          FROM pg_catalog.pg_depend d
          JOIN pg_catalog.pg_proc p ON p.oid OPERATOR(pg_catalog.=) d.objid
         CROSS JOIN LATERAL pg_catalog.aclexplode(p.proacl) a
          JOIN pg_catalog.pg_roles r ON r.oid OPERATOR(pg_catalog.=) a.grantee
         WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_proc'::pg_catalog.regclass
           AND d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_extension'::pg_catalog.regclass
           AND d.refobjid OPERATOR(pg_catalog.=)
               (SELECT e.oid FROM pg_catalog.pg_extension e
                 WHERE e.extname OPERATOR(pg_catalog.=) 'api_tokens')
           AND d.deptype OPERATOR(pg_catalog.=) 'e'
           AND a.grantee OPERATOR(pg_catalog.<>) p.proowner
           AND p.proname OPERATOR(pg_catalog.=) ANY (ARRAY[
                   'api_token_revoke_family', 'api_token_successor', 'api_tokens_expiring',
                   'api_tokens_purge', 'api_token_authenticate', 'api_token_current_user',
                   'api_token_current_token', 'api_token_current_scopes', 'api_token_has_scope',
                   'api_tokens_pre_request', 'api_tokens_record_uses',
                   'api_tokens_last_use_state', 'api_tokens_last_use_databases',
                   'api_tokens_create_history_tables',
                   'api_tokens_check_install']::pg_catalog.name[])
    LOOP
        EXECUTE pg_catalog.format('REVOKE ALL ON %s FROM %I CASCADE', object, grantee);
    END LOOP;
END
$privileges$;

-- Monitoring roles may read the worker's state.
GRANT EXECUTE ON FUNCTION @extschema@.api_tokens_last_use_state() TO pg_read_all_stats;
GRANT EXECUTE ON FUNCTION @extschema@.api_tokens_last_use_databases() TO pg_read_all_stats;

-- Say what is unsafe about where the extension was installed.
DO $check$
DECLARE
    finding record;
BEGIN
    FOR finding IN SELECT * FROM @extschema@.api_tokens_check_install() LOOP
        RAISE WARNING '%', finding.problem USING HINT = finding.hint;
    END LOOP;
END
$check$;
