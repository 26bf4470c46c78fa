-- What an application would write without the extension: the same contract
-- as api_token_validate in PL/pgSQL with pgcrypto's digest(), including the
-- last_used_at update throttled by the same setting.  The checksum is not
-- verified (a regular expression checks the format only).
CREATE EXTENSION IF NOT EXISTS pgcrypto;

CREATE FUNCTION bench_ref_validate(token text, required_scopes text[] DEFAULT NULL)
RETURNS TABLE (status text, token_id uuid, user_id uuid, scopes text[])
LANGUAGE plpgsql
AS $$
DECLARE
    t record;
BEGIN
    IF token IS NULL OR length(token) > 255 OR token !~ '^[a-z0-9]{1,10}_[0-9A-Za-z]{36}$' THEN
        RETURN QUERY SELECT 'malformed', NULL::uuid, NULL::uuid, NULL::text[];
        RETURN;
    END IF;
    SELECT a.id, a.user_id, a.scopes::text[] AS scopes, a.expires_at, a.is_active, a.last_used_at
      INTO t
      FROM api_tokens a
     WHERE a.token_hash = encode(digest(token, 'sha256'), 'hex');
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'unknown', NULL::uuid, NULL::uuid, NULL::text[];
        RETURN;
    END IF;
    IF NOT t.is_active THEN
        RETURN QUERY SELECT 'inactive', t.id, t.user_id, t.scopes;
    ELSIF t.expires_at IS NOT NULL AND t.expires_at <= now() THEN
        RETURN QUERY SELECT 'expired', t.id, t.user_id, t.scopes;
    ELSIF coalesce(cardinality(required_scopes), 0) > 0
          AND NOT (required_scopes <@ coalesce(t.scopes, '{}')) THEN
        RETURN QUERY SELECT 'insufficient_scope', t.id, t.user_id, t.scopes;
    ELSE
        IF t.last_used_at IS NULL OR t.last_used_at
           <= now() - current_setting('api_tokens.last_used_interval')::interval THEN
            UPDATE api_tokens SET last_used_at = now() WHERE id = t.id;
        END IF;
        RETURN QUERY SELECT 'valid', t.id, t.user_id, t.scopes;
    END IF;
END
$$;
