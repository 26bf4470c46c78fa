-- api_token_create: the plaintext is returned once; only its hash is stored.
\i test/sql/setup/common.sql
\set VERBOSITY terse

INSERT INTO users (id, email) VALUES
    ('00000000-0000-0000-0000-000000000001', 'alice@example.com'),
    ('00000000-0000-0000-0000-000000000002', 'bob@example.com');

SELECT * FROM api_token_create('00000000-0000-0000-0000-000000000001', 'deploy',
                               ARRAY['repo:read', 'repo:write'], now() + interval '30 days') \gset
SELECT api_token_is_wellformed(:'token') AS wellformed;

-- What is stored: the hash and the display prefix, never the token.
SELECT user_id, name, token_hash = api_token_hash(:'token') AS hash_matches,
       token_prefix = left(:'token', 8) AS prefix_matches, scopes,
       expires_at > now() + interval '29 days' AS expiry_kept,
       last_used_at, is_active, created_at BETWEEN now() - interval '1 minute' AND now() AS created_recently
  FROM api_tokens WHERE id = :'token_id';
SELECT count(*) AS rows_containing_plaintext
  FROM api_tokens t WHERE strpos(t::text, :'token') > 0;

-- Defaults: no scopes, no expiry.
SELECT * FROM api_token_create('00000000-0000-0000-0000-000000000002', 'laptop') \gset bob_
SELECT scopes, expires_at FROM api_tokens WHERE id = :'bob_token_id';

-- Named arguments, as application code tends to call it.
SELECT token_id IS NOT NULL AS ok
  FROM api_token_create(user_id => '00000000-0000-0000-0000-000000000002', name => 'ci',
                        scopes => '{deploy}');

-- Boundaries: 100-character names and 50-character scopes are fine.
SELECT token_id IS NOT NULL AS ok
  FROM api_token_create('00000000-0000-0000-0000-000000000002', repeat('n', 100),
                        ARRAY[repeat('s', 50)]);
SELECT token_id IS NOT NULL AS ok
  FROM api_token_create('00000000-0000-0000-0000-000000000002', repeat('é', 100));

-- Errors, each with its SQLSTATE.
\set VERBOSITY sqlstate
SELECT * FROM api_token_create('00000000-0000-0000-0000-000000000002', repeat('n', 101));
SELECT * FROM api_token_create('00000000-0000-0000-0000-000000000002', 'x', ARRAY[repeat('s', 51)]);
SELECT * FROM api_token_create('00000000-0000-0000-0000-000000000099', 'ghost');
SELECT * FROM api_token_create(NULL, 'x');
SELECT * FROM api_token_create('00000000-0000-0000-0000-000000000002', NULL);
SELECT * FROM api_token_create('00000000-0000-0000-0000-000000000002', 'x', NULL, now());
SELECT * FROM api_token_create('00000000-0000-0000-0000-000000000002', 'x', NULL, now() - interval '1 day');
SELECT * FROM api_token_create('00000000-0000-0000-0000-000000000002', '');
SELECT * FROM api_token_create('00000000-0000-0000-0000-000000000002', 'x', ARRAY['a', NULL]);
SELECT * FROM api_token_create('00000000-0000-0000-0000-000000000002', 'x', ARRAY['']);
SELECT * FROM api_token_create('00000000-0000-0000-0000-000000000002', 'x', '{{a},{b}}');
\set VERBOSITY terse
SELECT * FROM api_token_create('00000000-0000-0000-0000-000000000002', repeat('n', 101));
SELECT * FROM api_token_create('00000000-0000-0000-0000-000000000099', 'ghost');
SELECT * FROM api_token_create('00000000-0000-0000-0000-000000000002', 'x', NULL, '-infinity');

-- None of the failed calls left a row behind.
SELECT user_id, count(*) FROM api_tokens GROUP BY user_id ORDER BY user_id;
