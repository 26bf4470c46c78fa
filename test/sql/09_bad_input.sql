-- Hostile and absurd input: every call ends in a documented status or an
-- error with a SQLSTATE, never a crash, and no message repeats a token.
\i test/sql/setup/common.sql
\set VERBOSITY sqlstate
SET api_tokens.last_used_interval = '1d';
INSERT INTO users (id, email) VALUES ('00000000-0000-0000-0000-00000000000b', 'judy@example.com');
SELECT token_id, token FROM api_token_create('00000000-0000-0000-0000-00000000000b', 'bad input') \gset

-- NULL in every argument.
SELECT api_token_hash(NULL), api_token_prefix(NULL), api_token_is_wellformed(NULL);
SELECT status FROM api_token_validate(NULL, NULL);
SELECT status FROM api_token_validate(NULL, ARRAY[NULL]::text[]);
SELECT * FROM api_token_create(NULL, NULL, NULL, NULL);
SELECT token_id IS NOT NULL AS created
  FROM api_token_create('00000000-0000-0000-0000-00000000000b', 'nulls', NULL, NULL);
SELECT api_token_revoke(NULL), api_token_revoke_user(NULL);
SELECT api_token_revoke_leaked(NULL);
SELECT api_token_revoke_leaked(ARRAY[NULL, NULL]::text[]) AS revoked;
SELECT * FROM api_token_rotate(NULL, NULL);

-- Empty and huge strings.
SELECT status FROM api_token_validate('', '{}');
SELECT status FROM api_token_validate(repeat('pat_', 50000000));
SELECT status FROM api_token_validate(:'token', ARRAY[repeat('s', 1000000)]);
SELECT length(api_token_hash(repeat('x', 50000000))) AS hash_length;
SELECT api_token_prefix(repeat('x', 50000000)) AS prefix;
SELECT * FROM api_token_create('00000000-0000-0000-0000-00000000000b', repeat('n', 10000000));
SELECT * FROM api_token_create('00000000-0000-0000-0000-00000000000b', 'x', ARRAY[repeat('s', 10000000)]);
SELECT api_token_revoke_leaked(array_agg(repeat('junk', 100))) AS revoked
  FROM generate_series(1, 10000);
SELECT api_token_revoke_leaked(ARRAY[repeat('pat_', 10000000)]) AS revoked;

-- Invalid UTF-8 never reaches the functions; valid non-ASCII is just malformed.
SELECT status FROM api_token_validate(E'pat_\xff');
SELECT status FROM api_token_validate(convert_from('\x7061745fff'::bytea, 'UTF8'));
SELECT status FROM api_token_validate(E'pat_\u0000');
SELECT status FROM api_token_validate('pät_0000000000000000000000000000002C8GjS');
SELECT status FROM api_token_validate('pat_00000000000000000000000000000€2C8GjS');
SELECT api_token_is_wellformed('pat_0000000000000000000000000000002C8Gj€');

-- Arrays with NULLs, empty arrays, many dimensions.
SELECT * FROM api_token_validate(:'token', ARRAY[NULL]::text[]);
SELECT status FROM api_token_validate(:'token', '{}');
SELECT * FROM api_token_validate(:'token', '{{a}}');
SELECT * FROM api_token_create('00000000-0000-0000-0000-00000000000b', 'x', ARRAY[NULL]::text[]);
SELECT token_id IS NOT NULL AS created
  FROM api_token_create('00000000-0000-0000-0000-00000000000b', 'empty scopes', '{}');

-- Absurd timestamps and intervals.
SELECT token_id IS NOT NULL AS created
  FROM api_token_create('00000000-0000-0000-0000-00000000000b', 'forever', NULL, 'infinity');
SELECT * FROM api_token_create('00000000-0000-0000-0000-00000000000b', 'x', NULL, '-infinity');
SELECT * FROM api_token_create('00000000-0000-0000-0000-00000000000b', 'x', NULL, '4713-01-01 BC');
SELECT * FROM api_token_create('00000000-0000-0000-0000-00000000000b', 'x', NULL, '294277-01-01');
SELECT * FROM api_token_rotate(:'token_id', '-178000000 years');
SELECT * FROM api_token_rotate(:'token_id', '178000000 years');
SELECT * FROM api_token_rotate(:'token_id', '1 microsecond') \gset rot_
SELECT status FROM api_token_validate(:'rot_token');
SET api_tokens.last_used_interval = 2147483647;
SET api_tokens.last_used_interval = 2147483648;
SET api_tokens.last_used_interval = 'soon';
SET api_tokens.last_used_interval = '1 fortnight';
RESET api_tokens.last_used_interval;

-- Errors never repeat the token: an error raised while a token is an
-- argument does not contain it.
\set VERBOSITY terse
DO $$
DECLARE
    t text := (SELECT token FROM api_token_create('00000000-0000-0000-0000-00000000000b', 'secret'));
    msg text; detail text; hint text; ctx text;
BEGIN
    BEGIN
        PERFORM * FROM api_token_validate(t, ARRAY[NULL]);
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT, detail = PG_EXCEPTION_DETAIL, hint = PG_EXCEPTION_HINT;
        RAISE NOTICE 'validate error leaks token: %', strpos(concat(msg, detail, hint), t) > 0;
    END;
    BEGIN
        PERFORM * FROM api_token_create('00000000-0000-0000-0000-00000000000b', t || repeat('x', 100));
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT, detail = PG_EXCEPTION_DETAIL, hint = PG_EXCEPTION_HINT;
        RAISE NOTICE 'create error leaks name: %', strpos(concat(msg, detail, hint), t) > 0;
    END;
END
$$;
\set VERBOSITY terse
RESET api_tokens.last_used_interval;
