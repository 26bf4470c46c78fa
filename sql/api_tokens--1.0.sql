/* api_tokens 1.0 */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION api_tokens" to load this file. \quit

-------------------------------------------------------------------------------
-- Pure token functions (C, no table access): anyone may call them.
-------------------------------------------------------------------------------

CREATE FUNCTION @extschema@.api_token_generate()
RETURNS text
AS 'MODULE_PATHNAME', 'api_token_generate'
LANGUAGE C VOLATILE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.api_token_generate() IS
'a new random token <brand>_<30 base62><6 base62 CRC32>; not stored anywhere';

CREATE FUNCTION @extschema@.api_token_hash(token text)
RETURNS text
AS 'MODULE_PATHNAME', 'api_token_hash'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.api_token_hash(text) IS
'lowercase hex SHA-256 of the token (what token_hash stores)';

CREATE FUNCTION @extschema@.api_token_prefix(token text)
RETURNS text
AS 'MODULE_PATHNAME', 'api_token_prefix'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.api_token_prefix(text) IS
'first 8 characters of the token (what token_prefix stores, for display)';

CREATE FUNCTION @extschema@.api_token_is_wellformed(token text)
RETURNS boolean
AS 'MODULE_PATHNAME', 'api_token_is_wellformed'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.api_token_is_wellformed(text) IS
'true if the text has the token format and a correct checksum; reads no table';

-------------------------------------------------------------------------------
-- The api_tokens table.
--
-- It refers to the application's users table, so it must not be a member of
-- the extension: pg_dump would then emit it inside CREATE EXTENSION, before
-- the users table exists, and the dump would not restore.  The table is
-- created here and then released from the extension; it is an ordinary
-- application table from then on (dumped, restored and kept by DROP
-- EXTENSION like any other).
--
-- Every function below that touches the table reaches it by OID, from the
-- schema it lives in, and refuses a table it cannot trust (one owned by
-- another role than a superuser or the extension's owner, or carrying
-- triggers, rules or inheritance children): the schema's owner may drop the
-- table and create another in its place.
-------------------------------------------------------------------------------

CREATE FUNCTION @extschema@.api_tokens_create_table(users_table regclass)
RETURNS regclass
AS 'MODULE_PATHNAME', 'api_tokens_create_table'
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp;

REVOKE ALL ON FUNCTION @extschema@.api_tokens_create_table(regclass) FROM PUBLIC;

COMMENT ON FUNCTION @extschema@.api_tokens_create_table(regclass) IS
'creates the api_tokens table with a foreign key to users_table(id), when CREATE EXTENSION could not';

CREATE FUNCTION @extschema@.api_tokens_check_table()
RETURNS regclass
AS 'MODULE_PATHNAME', 'api_tokens_check_table'
LANGUAGE C STABLE
SET search_path = pg_catalog, pg_temp;

REVOKE ALL ON FUNCTION @extschema@.api_tokens_check_table() FROM PUBLIC;

COMMENT ON FUNCTION @extschema@.api_tokens_check_table() IS
'the api_tokens table, if the extension can use it; otherwise an error that says why';

-- Create the table now if the users table exists.  When it does not (as
-- when pg_restore replays CREATE EXTENSION before the dumped tables), say
-- so and carry on: the dump creates the table itself.  A table that already
-- exists (kept by DROP EXTENSION) is adopted only if it can be trusted.
DO $install$
DECLARE
    setting text := coalesce(nullif(pg_catalog.current_setting('api_tokens.users_table', true),
                                    ''), 'users');
    users_table regclass;
BEGIN
    IF pg_catalog.to_regclass('@extschema@.api_tokens') IS NOT NULL THEN
        PERFORM @extschema@.api_tokens_check_table();
        RETURN;
    END IF;
    users_table := pg_catalog.to_regclass(setting);
    IF users_table IS NULL THEN
        RAISE WARNING 'users table "%" not found: table api_tokens was not created', setting
            USING DETAIL = 'A restore of a dump creates the table itself, after the users table.',
                  HINT = 'Otherwise create the users table (id uuid primary key) and run '
                         'SELECT api_tokens_create_table(''users''), or set '
                         'api_tokens.users_table before CREATE EXTENSION.';
        RETURN;
    END IF;
    PERFORM @extschema@.api_tokens_create_table(users_table);
END
$install$;

-------------------------------------------------------------------------------
-- Validation (C, the per-request hot path).
-------------------------------------------------------------------------------

-- The result row.  A named type rather than RETURNS TABLE (...): the
-- executor then takes the row layout from the type cache instead of building
-- it from the function's catalog entry on every call (about 8,000
-- instructions per call, measured with callgrind), and a stored result is of
-- a type every session knows.
CREATE TYPE @extschema@.api_token_validation AS (
    status text,
    token_id uuid,
    user_id uuid,
    scopes text[]
);

-- Not SECURITY DEFINER: the C code reads the table by OID, which needs no
-- privilege of the caller, and writes (last_used_at, at commit) as the
-- table's owner.  So validation runs as its caller, without the cost of
-- switching roles (about 2,000 instructions a call, callgrind) or of a SET
-- search_path clause (about 8% of throughput); it resolves no name at all.
-- EXECUTE on it is what a role needs to validate tokens.
CREATE FUNCTION @extschema@.api_token_validate(token text, required_scopes text[] DEFAULT NULL)
RETURNS SETOF @extschema@.api_token_validation
AS 'MODULE_PATHNAME', 'api_token_validate'
LANGUAGE C VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
ROWS 1;

REVOKE ALL ON FUNCTION @extschema@.api_token_validate(text, text[]) FROM PUBLIC;

COMMENT ON FUNCTION @extschema@.api_token_validate(text, text[]) IS
'one row: valid, malformed, unknown, inactive, expired or insufficient_scope; records last use';

-------------------------------------------------------------------------------
-- Management (C, SECURITY DEFINER).
-------------------------------------------------------------------------------

CREATE FUNCTION @extschema@.api_token_create(
    user_id uuid,
    name text,
    scopes text[] DEFAULT NULL,
    expires_at timestamptz DEFAULT NULL)
RETURNS TABLE (token_id uuid, token text)
AS 'MODULE_PATHNAME', 'api_token_create'
LANGUAGE C VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
ROWS 1;

REVOKE ALL ON FUNCTION @extschema@.api_token_create(uuid, text, text[], timestamptz) FROM PUBLIC;

COMMENT ON FUNCTION @extschema@.api_token_create(uuid, text, text[], timestamptz) IS
'issues a token; the plaintext is returned once and stored nowhere';

CREATE FUNCTION @extschema@.api_token_revoke(token_id uuid)
RETURNS boolean
AS 'MODULE_PATHNAME', 'api_token_revoke'
LANGUAGE C VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

REVOKE ALL ON FUNCTION @extschema@.api_token_revoke(uuid) FROM PUBLIC;

COMMENT ON FUNCTION @extschema@.api_token_revoke(uuid) IS
'deactivates a token; true if it was active';

CREATE FUNCTION @extschema@.api_token_revoke_user(user_id uuid)
RETURNS integer
AS 'MODULE_PATHNAME', 'api_token_revoke_user'
LANGUAGE C VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

REVOKE ALL ON FUNCTION @extschema@.api_token_revoke_user(uuid) FROM PUBLIC;

COMMENT ON FUNCTION @extschema@.api_token_revoke_user(uuid) IS
'deactivates every active token of a user; returns how many';

CREATE FUNCTION @extschema@.api_token_revoke_leaked(tokens text[])
RETURNS integer
AS 'MODULE_PATHNAME', 'api_token_revoke_leaked'
LANGUAGE C VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

REVOKE ALL ON FUNCTION @extschema@.api_token_revoke_leaked(text[]) FROM PUBLIC;

COMMENT ON FUNCTION @extschema@.api_token_revoke_leaked(text[]) IS
'deactivates the tokens given in plaintext (as a secret scanner reports them); returns how many';

CREATE FUNCTION @extschema@.api_token_rotate(token_id uuid, grace interval DEFAULT '0')
RETURNS TABLE (token_id uuid, token text)
AS 'MODULE_PATHNAME', 'api_token_rotate'
LANGUAGE C VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
ROWS 1;

REVOKE ALL ON FUNCTION @extschema@.api_token_rotate(uuid, interval) FROM PUBLIC;

COMMENT ON FUNCTION @extschema@.api_token_rotate(uuid, interval) IS
'issues a successor with the same user, name, scopes and expiry; the old token stops at once or after grace';

-------------------------------------------------------------------------------
-- Privileges are exactly the ones granted above.  Default privileges
-- (ALTER DEFAULT PRIVILEGES ... GRANT ... ON FUNCTIONS) may have given the
-- new functions to other roles: take that back.
-------------------------------------------------------------------------------

DO $privileges$
DECLARE
    fn regprocedure;
    grantee name;
BEGIN
    FOR fn, grantee IN
        SELECT DISTINCT p.oid::regprocedure, r.rolname
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
    LOOP
        EXECUTE pg_catalog.format('REVOKE ALL ON FUNCTION %s FROM %I CASCADE', fn, grantee);
    END LOOP;
END
$privileges$;
