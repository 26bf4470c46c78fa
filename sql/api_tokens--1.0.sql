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
-------------------------------------------------------------------------------

CREATE FUNCTION @extschema@.api_tokens_create_table(users_table regclass)
RETURNS regclass
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    id_type regtype;
BEGIN
    IF users_table IS NULL THEN
        RAISE EXCEPTION 'users_table must not be null'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF to_regclass('@extschema@.api_tokens') IS NOT NULL THEN
        RAISE EXCEPTION 'table % already exists', '@extschema@.api_tokens'::regclass
            USING ERRCODE = 'duplicate_table';
    END IF;

    SELECT a.atttypid::regtype INTO id_type
      FROM pg_attribute a
     WHERE a.attrelid = users_table AND a.attname = 'id' AND NOT a.attisdropped;
    IF id_type IS DISTINCT FROM 'uuid'::regtype THEN
        RAISE EXCEPTION 'users table % has no id column of type uuid', users_table
            USING ERRCODE = 'datatype_mismatch',
                  DETAIL = 'api_tokens.user_id is a uuid that refers to the users table''s id.';
    END IF;

    EXECUTE format($ddl$
        CREATE TABLE @extschema@.api_tokens (
            id           uuid           NOT NULL DEFAULT pg_catalog.gen_random_uuid(),
            user_id      uuid           NOT NULL,
            name         varchar(100)   NOT NULL,
            token_hash   varchar(64)    NOT NULL,
            token_prefix varchar(8)     NOT NULL,
            scopes       varchar(50)[],
            expires_at   timestamptz,
            last_used_at timestamptz,
            is_active    boolean        NOT NULL DEFAULT true,
            created_at   timestamptz    NOT NULL DEFAULT pg_catalog.now(),
            CONSTRAINT api_tokens_pkey PRIMARY KEY (id),
            CONSTRAINT fk_api_tokens_user_id FOREIGN KEY (user_id)
                REFERENCES %s (id) ON DELETE CASCADE
        )$ddl$, users_table);
    CREATE INDEX ix_api_tokens_user_id ON @extschema@.api_tokens (user_id);
    CREATE UNIQUE INDEX ix_api_tokens_token_hash ON @extschema@.api_tokens (token_hash);
    CREATE INDEX ix_api_tokens_token_prefix ON @extschema@.api_tokens (token_prefix);
    REVOKE ALL ON TABLE @extschema@.api_tokens FROM PUBLIC;

    -- Called from the install script, the new table became an extension
    -- member: release it (see above).
    IF EXISTS (SELECT FROM pg_depend d
                WHERE d.classid = 'pg_class'::regclass
                  AND d.objid = '@extschema@.api_tokens'::regclass
                  AND d.refclassid = 'pg_extension'::regclass
                  AND d.deptype = 'e') THEN
        ALTER EXTENSION api_tokens DROP TABLE @extschema@.api_tokens;
    END IF;

    RETURN '@extschema@.api_tokens'::regclass;
END
$function$;

REVOKE ALL ON FUNCTION @extschema@.api_tokens_create_table(regclass) FROM PUBLIC;

COMMENT ON FUNCTION @extschema@.api_tokens_create_table(regclass) IS
'creates the api_tokens table with a foreign key to users_table(id), when CREATE EXTENSION could not';

-- Create the table now if the users table exists.  When it does not (as
-- when pg_restore replays CREATE EXTENSION before the dumped tables), say
-- so and carry on: the dump creates the table itself.
DO $install$
DECLARE
    setting text := coalesce(nullif(current_setting('api_tokens.users_table', true), ''), 'users');
    users_table regclass;
BEGIN
    IF to_regclass('@extschema@.api_tokens') IS NOT NULL THEN
        RETURN;                 -- kept from an earlier installation or a restore
    END IF;
    users_table := to_regclass(setting);
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
-- instructions per call, measured with callgrind).
CREATE TYPE @extschema@.api_token_validation AS (
    status text,
    token_id uuid,
    user_id uuid,
    scopes text[]
);

-- No SET search_path clause here: it would cost every validation about 8% of
-- its throughput (bench/).  The C code resolves no name through search_path
-- (it finds the table from its own schema by OID) and pins search_path itself
-- around the one statement it runs, the last_used_at update.
CREATE FUNCTION @extschema@.api_token_validate(token text, required_scopes text[] DEFAULT NULL)
RETURNS SETOF @extschema@.api_token_validation
AS 'MODULE_PATHNAME', 'api_token_validate'
LANGUAGE C VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE SECURITY DEFINER
ROWS 1;

REVOKE ALL ON FUNCTION @extschema@.api_token_validate(text, text[]) FROM PUBLIC;

COMMENT ON FUNCTION @extschema@.api_token_validate(text, text[]) IS
'one row: valid, malformed, unknown, inactive, expired or insufficient_scope; records last use';

-------------------------------------------------------------------------------
-- Management.  SECURITY DEFINER, pinned search_path, every name qualified.
-------------------------------------------------------------------------------

-- The one place where a plaintext token meets the table: generate, store
-- its hash and display prefix, hand the plaintext back.  Callers check
-- their arguments and hold the per-user lock (see api_token_revoke_user).
CREATE FUNCTION @extschema@.api_tokens_insert(
    user_id uuid, name text, scopes text[], expires_at timestamptz,
    OUT new_id uuid, OUT new_token text)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $function$
BEGIN
    new_token := @extschema@.api_token_generate();
    INSERT INTO @extschema@.api_tokens AS t
           (user_id, name, token_hash, token_prefix, scopes, expires_at)
    VALUES ($1, $2, @extschema@.api_token_hash(new_token),
            @extschema@.api_token_prefix(new_token), $3, $4)
    RETURNING t.id INTO new_id;
END
$function$;

REVOKE ALL ON FUNCTION @extschema@.api_tokens_insert(uuid, text, text[], timestamptz) FROM PUBLIC;

CREATE FUNCTION @extschema@.api_token_create(
    user_id uuid,
    name text,
    scopes text[] DEFAULT NULL,
    expires_at timestamptz DEFAULT NULL)
RETURNS TABLE (token_id uuid, token text)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    scope text;
BEGIN
    IF $1 IS NULL THEN
        RAISE EXCEPTION 'user_id must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF $2 IS NULL THEN
        RAISE EXCEPTION 'name must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF $2 OPERATOR(pg_catalog.=) '' THEN
        RAISE EXCEPTION 'name must not be empty' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF char_length($2) OPERATOR(pg_catalog.>) 100 THEN
        RAISE EXCEPTION 'name is too long'
            USING ERRCODE = 'string_data_right_truncation',
                  DETAIL = format('A token name has at most 100 characters, not %s.', char_length($2));
    END IF;
    IF array_ndims($3) OPERATOR(pg_catalog.>) 1 THEN
        RAISE EXCEPTION 'scopes must be a one-dimensional array' USING ERRCODE = 'array_subscript_error';
    END IF;
    FOREACH scope IN ARRAY coalesce($3, '{}') LOOP
        IF scope IS NULL THEN
            RAISE EXCEPTION 'scopes must not contain NULL' USING ERRCODE = 'null_value_not_allowed';
        END IF;
        IF scope OPERATOR(pg_catalog.=) '' THEN
            RAISE EXCEPTION 'a scope must not be empty' USING ERRCODE = 'invalid_parameter_value';
        END IF;
        IF char_length(scope) OPERATOR(pg_catalog.>) 50 THEN
            RAISE EXCEPTION 'scope is too long'
                USING ERRCODE = 'string_data_right_truncation',
                      DETAIL = format('A scope has at most 50 characters, not %s.', char_length(scope));
        END IF;
    END LOOP;
    IF $4 OPERATOR(pg_catalog.<=) now() THEN
        RAISE EXCEPTION 'expires_at must be in the future' USING ERRCODE = 'invalid_parameter_value';
    END IF;

    -- Shared per-user lock: api_token_revoke_user waits for this insert.
    PERFORM pg_catalog.pg_advisory_xact_lock_shared(1634757748, pg_catalog.hashtext($1::text));
    SELECT i.new_id, i.new_token INTO token_id, token
      FROM @extschema@.api_tokens_insert($1, $2, $3, $4) AS i;
    RETURN NEXT;
END
$function$;

REVOKE ALL ON FUNCTION @extschema@.api_token_create(uuid, text, text[], timestamptz) FROM PUBLIC;

COMMENT ON FUNCTION @extschema@.api_token_create(uuid, text, text[], timestamptz) IS
'issues a token; the plaintext is returned once and stored nowhere';

CREATE FUNCTION @extschema@.api_token_revoke(token_id uuid)
RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
BEGIN
    IF $1 IS NULL THEN
        RAISE EXCEPTION 'token_id must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    UPDATE @extschema@.api_tokens AS t SET is_active = false
     WHERE t.id OPERATOR(pg_catalog.=) $1 AND t.is_active;
    RETURN FOUND;
END
$function$;

REVOKE ALL ON FUNCTION @extschema@.api_token_revoke(uuid) FROM PUBLIC;

COMMENT ON FUNCTION @extschema@.api_token_revoke(uuid) IS
'deactivates a token; true if it was active';

CREATE FUNCTION @extschema@.api_token_revoke_user(user_id uuid)
RETURNS integer
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    revoked integer;
BEGIN
    IF $1 IS NULL THEN
        RAISE EXCEPTION 'user_id must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    -- Wait for tokens of this user being created or rotated right now, so
    -- that they are revoked too (this statement's snapshot is taken after).
    PERFORM pg_catalog.pg_advisory_xact_lock(1634757748, pg_catalog.hashtext($1::text));
    -- Lock in id order, so that concurrent bulk revocations cannot deadlock.
    WITH locked AS (
        SELECT t.id FROM @extschema@.api_tokens AS t
         WHERE t.user_id OPERATOR(pg_catalog.=) $1 AND t.is_active
         ORDER BY t.id
           FOR NO KEY UPDATE)
    UPDATE @extschema@.api_tokens AS t SET is_active = false
      FROM locked
     WHERE t.id OPERATOR(pg_catalog.=) locked.id AND t.is_active;
    GET DIAGNOSTICS revoked = ROW_COUNT;
    RETURN revoked;
END
$function$;

REVOKE ALL ON FUNCTION @extschema@.api_token_revoke_user(uuid) FROM PUBLIC;

COMMENT ON FUNCTION @extschema@.api_token_revoke_user(uuid) IS
'deactivates every active token of a user; returns how many';

CREATE FUNCTION @extschema@.api_token_revoke_leaked(tokens text[])
RETURNS integer
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    revoked integer;
BEGIN
    IF $1 IS NULL THEN
        RAISE EXCEPTION 'tokens must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    -- Entries that are not well-formed tokens (NULL, junk) cannot be ours.
    WITH leaked AS (
        SELECT DISTINCT @extschema@.api_token_hash(x) AS token_hash
          FROM unnest($1) AS x
         WHERE @extschema@.api_token_is_wellformed(x)),
    locked AS (
        SELECT t.id FROM @extschema@.api_tokens AS t, leaked
         WHERE t.token_hash OPERATOR(pg_catalog.=) leaked.token_hash AND t.is_active
         ORDER BY t.id
           FOR NO KEY UPDATE OF t)
    UPDATE @extschema@.api_tokens AS t SET is_active = false
      FROM locked
     WHERE t.id OPERATOR(pg_catalog.=) locked.id AND t.is_active;
    GET DIAGNOSTICS revoked = ROW_COUNT;
    RETURN revoked;
END
$function$;

REVOKE ALL ON FUNCTION @extschema@.api_token_revoke_leaked(text[]) FROM PUBLIC;

COMMENT ON FUNCTION @extschema@.api_token_revoke_leaked(text[]) IS
'deactivates the tokens given in plaintext (as a secret scanner reports them); returns how many';

-- PL/pgSQL refuses an input and an output parameter of one name (token_id),
-- so the public function is an SQL wrapper around this one.
CREATE FUNCTION @extschema@.api_tokens_rotate_impl(old_id uuid, grace interval)
RETURNS TABLE (new_id uuid, new_token text)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    seen record;
    old record;
BEGIN
    IF $1 IS NULL THEN
        RAISE EXCEPTION 'token_id must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF $2 IS NULL THEN
        RAISE EXCEPTION 'grace must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF $2 OPERATOR(pg_catalog.<) interval '0' THEN
        RAISE EXCEPTION 'grace must not be negative' USING ERRCODE = 'invalid_parameter_value';
    END IF;

    -- The row version this call set out to rotate ...
    SELECT t.xmin, t.user_id INTO seen
      FROM @extschema@.api_tokens AS t WHERE t.id OPERATOR(pg_catalog.=) $1;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'token % does not exist', $1 USING ERRCODE = 'no_data_found';
    END IF;
    PERFORM pg_catalog.pg_advisory_xact_lock_shared(1634757748, pg_catalog.hashtext(seen.user_id::text));
    SELECT t.xmin AS version, t.user_id, t.name, t.scopes, t.expires_at, t.is_active
      INTO old
      FROM @extschema@.api_tokens AS t WHERE t.id OPERATOR(pg_catalog.=) $1
       FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'token % does not exist', $1 USING ERRCODE = 'no_data_found';
    END IF;
    IF NOT old.is_active OR old.expires_at OPERATOR(pg_catalog.<=) now() THEN
        RAISE EXCEPTION 'token % is not active', $1
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = 'Only an active, unexpired token can be rotated.';
    END IF;
    -- ... must still be the current one once locked: of concurrent
    -- rotations of one token, exactly one wins.
    IF old.version OPERATOR(pg_catalog.<>) seen.xmin THEN
        RAISE EXCEPTION 'token % was changed by a concurrent transaction', $1
            USING ERRCODE = 'serialization_failure', HINT = 'Retry the rotation.';
    END IF;

    SELECT i.new_id, i.new_token INTO new_id, new_token
      FROM @extschema@.api_tokens_insert(old.user_id, old.name, old.scopes, old.expires_at) AS i;

    IF $2 OPERATOR(pg_catalog.=) interval '0' THEN
        UPDATE @extschema@.api_tokens AS t SET is_active = false
         WHERE t.id OPERATOR(pg_catalog.=) $1;
    ELSE
        UPDATE @extschema@.api_tokens AS t
           SET expires_at = LEAST(coalesce(t.expires_at, 'infinity'), now() OPERATOR(pg_catalog.+) $2)
         WHERE t.id OPERATOR(pg_catalog.=) $1;
    END IF;

    RETURN NEXT;
END
$function$;

REVOKE ALL ON FUNCTION @extschema@.api_tokens_rotate_impl(uuid, interval) FROM PUBLIC;

CREATE FUNCTION @extschema@.api_token_rotate(token_id uuid, grace interval DEFAULT '0')
RETURNS TABLE (token_id uuid, token text)
LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
    SELECT r.new_id, r.new_token FROM @extschema@.api_tokens_rotate_impl($1, $2) AS r
$function$;

REVOKE ALL ON FUNCTION @extschema@.api_token_rotate(uuid, interval) FROM PUBLIC;

COMMENT ON FUNCTION @extschema@.api_token_rotate(uuid, interval) IS
'issues a successor with the same user, name, scopes and expiry; the old token stops at once or after grace';
