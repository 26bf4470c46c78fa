/* api_tokens 1.1 -> 1.2 */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION api_tokens UPDATE TO '1.2'" to load this file. \quit

-------------------------------------------------------------------------------
-- Limits per token: a rate limit, usage credits and an address allowlist,
-- in a side table (api_token_limits, one row per limited token; the
-- api_tokens table is unchanged).  Like the history tables it is created by
-- api_tokens_create_history_tables(), beside api_tokens, and released from
-- the extension: now if api_tokens exists, else by api_tokens_create_table().
-------------------------------------------------------------------------------

DO $limits$
BEGIN
    IF pg_catalog.to_regclass('@extschema@.api_tokens') IS NOT NULL THEN
        PERFORM @extschema@.api_tokens_create_history_tables();
    END IF;
END
$limits$;

COMMENT ON FUNCTION @extschema@.api_tokens_create_history_tables() IS
'creates the side tables (api_token_rotations, api_token_events, api_token_limits) beside api_tokens, or checks the ones there';

-- The setters are SECURITY DEFINER: the table belongs to its owner, and
-- only roles granted EXECUTE may change a token's limits.
CREATE FUNCTION @extschema@.api_token_set_rate_limit(token_id uuid, max_requests integer, per interval)
RETURNS void
AS 'MODULE_PATHNAME', 'api_token_set_rate_limit'
LANGUAGE C VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION @extschema@.api_token_set_credits(
    token_id uuid, remaining bigint, refill bigint DEFAULT NULL, refill_every interval DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'api_token_set_credits'
LANGUAGE C VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION @extschema@.api_token_set_allowed_addresses(token_id uuid, addresses cidr[])
RETURNS void
AS 'MODULE_PATHNAME', 'api_token_set_allowed_addresses'
LANGUAGE C VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

REVOKE ALL ON FUNCTION @extschema@.api_token_set_rate_limit(uuid, integer, interval) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.api_token_set_credits(uuid, bigint, bigint, interval) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.api_token_set_allowed_addresses(uuid, cidr[]) FROM PUBLIC;

COMMENT ON FUNCTION @extschema@.api_token_set_rate_limit(uuid, integer, interval) IS
'at most max_requests validations per window of this length, counted per server (needs the library preloaded); NULL max_requests removes the limit';
COMMENT ON FUNCTION @extschema@.api_token_set_credits(uuid, bigint, bigint, interval) IS
'sets the remaining credits (each validation spends its cost), optionally reset to refill every refill_every; NULL remaining removes them';
COMMENT ON FUNCTION @extschema@.api_token_set_allowed_addresses(uuid, cidr[]) IS
'the client addresses (CIDR, IPv4 and IPv6) the token is valid from; NULL removes the allowlist';

-------------------------------------------------------------------------------
-- Verification: validation with the limits, for a client address and a
-- cost in credits.  api_token_validate and api_token_authenticate apply the
-- same limits, with no address and a cost of 1.
-------------------------------------------------------------------------------

CREATE TYPE @extschema@.api_token_verification AS (
    status text,
    token_id uuid,
    user_id uuid,
    scopes text[],
    retry_after integer,
    credits_remaining bigint
);

-- Like api_token_validate: runs as its caller, resolves no name.
CREATE FUNCTION @extschema@.api_token_verify(
    token text, required_scopes text[] DEFAULT NULL, client_address inet DEFAULT NULL,
    cost integer DEFAULT 1)
RETURNS SETOF @extschema@.api_token_verification
AS 'MODULE_PATHNAME', 'api_token_verify'
LANGUAGE C VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
ROWS 1;

REVOKE ALL ON FUNCTION @extschema@.api_token_verify(text, text[], inet, integer) FROM PUBLIC;

COMMENT ON FUNCTION @extschema@.api_token_verify(text, text[], inet, integer) IS
'one row: valid, malformed, unknown, inactive, expired, rotated, insufficient_scope, address_denied, rate_limited or usage_exceeded; seconds to retry after; credits left; spends cost credits when valid';

COMMENT ON FUNCTION @extschema@.api_token_validate(text, text[]) IS
'one row: valid, malformed, unknown, inactive, expired, rotated, insufficient_scope, address_denied, rate_limited or usage_exceeded; records last use; a token with limits is verified with no address and a cost of 1';

-- The answer an HTTP API gives for a status (RFC 6750): nothing to read,
-- nothing to resolve (every name qualified), the same for every caller.
CREATE FUNCTION @extschema@.api_token_http(
    status text, required_scopes text[] DEFAULT NULL,
    OUT http_status integer, OUT www_authenticate text)
RETURNS record
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $http$
SELECT CASE
           WHEN status OPERATOR(pg_catalog.=) 'valid' THEN 200
           WHEN status OPERATOR(pg_catalog.=) ANY (ARRAY['malformed', 'unknown', 'inactive',
                                                          'expired', 'rotated']) THEN 401
           WHEN status OPERATOR(pg_catalog.=) ANY (ARRAY['insufficient_scope', 'address_denied']) THEN 403
           WHEN status OPERATOR(pg_catalog.=) ANY (ARRAY['rate_limited', 'usage_exceeded']) THEN 429
       END,
       CASE
           WHEN status OPERATOR(pg_catalog.=) ANY (ARRAY['malformed', 'unknown', 'inactive',
                                                          'expired', 'rotated'])
               THEN 'Bearer error="invalid_token"'
           WHEN status OPERATOR(pg_catalog.=) 'insufficient_scope'
               THEN 'Bearer error="insufficient_scope"' OPERATOR(pg_catalog.||)
                    CASE
                        -- RFC 6749's scope characters only: no quote, backslash or space.
                        WHEN pg_catalog.cardinality(required_scopes) OPERATOR(pg_catalog.>) 0
                             AND pg_catalog.array_to_string(required_scopes, ' ')
                                 OPERATOR(pg_catalog.~) '^[\x21\x23-\x5B\x5D-\x7E]+( [\x21\x23-\x5B\x5D-\x7E]+)*$'
                            THEN ', scope="' OPERATOR(pg_catalog.||)
                                 pg_catalog.array_to_string(required_scopes, ' ') OPERATOR(pg_catalog.||) '"'
                        ELSE ''
                    END
       END
$http$;

GRANT EXECUTE ON FUNCTION @extschema@.api_token_http(text, text[]) TO PUBLIC;

COMMENT ON FUNCTION @extschema@.api_token_http(text, text[]) IS
'the HTTP status (200, 401, 403 or 429) and WWW-Authenticate header (RFC 6750) for a validation status; NULL for an unknown status';

-------------------------------------------------------------------------------
-- Inactivity (api_tokens.max_idle) and notices before expiry or inactivity.
-------------------------------------------------------------------------------

CREATE FUNCTION @extschema@.api_tokens_idling(within interval)
RETURNS TABLE (token_id uuid, user_id uuid, name text, token_prefix text, idle_at timestamptz)
AS 'MODULE_PATHNAME', 'api_tokens_idling'
LANGUAGE C VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION @extschema@.api_tokens_revoke_idle()
RETURNS integer
AS 'MODULE_PATHNAME', 'api_tokens_revoke_idle'
LANGUAGE C VOLATILE PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION @extschema@.api_tokens_send_notices(
    offsets interval[] DEFAULT '{60 days,30 days,7 days}')
RETURNS integer
AS 'MODULE_PATHNAME', 'api_tokens_send_notices'
LANGUAGE C VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

REVOKE ALL ON FUNCTION @extschema@.api_tokens_idling(interval) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.api_tokens_revoke_idle() FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.api_tokens_send_notices(interval[]) FROM PUBLIC;

COMMENT ON FUNCTION @extschema@.api_tokens_idling(interval) IS
'active tokens that go idle (api_tokens.max_idle) within the interval from now';
COMMENT ON FUNCTION @extschema@.api_tokens_revoke_idle() IS
'revokes the active tokens unused for api_tokens.max_idle, recording revoked events (how: idle); returns how many';
COMMENT ON FUNCTION @extschema@.api_tokens_send_notices(interval[]) IS
'records an expiry_notice or idle_notice event (and NOTIFY) for each active token whose expiry or inactivity is within an offset, once per offset; returns how many';

-------------------------------------------------------------------------------
-- The shared-memory counters of limits (with the library preloaded).
-------------------------------------------------------------------------------

CREATE FUNCTION @extschema@.api_tokens_limit_state(
    OUT preloaded boolean, OUT tracked bigint, OUT capacity integer,
    OUT credits_unwritten bigint, OUT refused bigint)
RETURNS record
AS 'MODULE_PATHNAME', 'api_tokens_limit_state'
LANGUAGE C VOLATILE PARALLEL SAFE;

REVOKE ALL ON FUNCTION @extschema@.api_tokens_limit_state() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.api_tokens_limit_state() TO pg_read_all_stats;

COMMENT ON FUNCTION @extschema@.api_tokens_limit_state() IS
'the shared-memory limits of this server: tokens tracked, capacity, tokens whose spent credits are not written yet, validations refused because the table was full';

-------------------------------------------------------------------------------
-- Privileges of what this script created are exactly the ones granted
-- above (see the 1.0 -> 1.1 script).
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
           AND a.grantee OPERATOR(pg_catalog.<>) 'pg_read_all_stats'::pg_catalog.regrole
           AND p.proname OPERATOR(pg_catalog.=) ANY (ARRAY[
                   'api_token_set_rate_limit', 'api_token_set_credits',
                   'api_token_set_allowed_addresses', 'api_token_verify', 'api_tokens_idling',
                   'api_tokens_revoke_idle', 'api_tokens_send_notices',
                   'api_tokens_limit_state']::pg_catalog.name[])
    LOOP
        EXECUTE pg_catalog.format('REVOKE ALL ON %s FROM %I CASCADE', object, grantee);
    END LOOP;
END
$privileges$;
