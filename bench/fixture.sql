-- Benchmark fixture: :nusers users, :ntokens tokens with scopes, and a side
-- table of plaintexts (bench_tokens) that every variant reads the same way.
\set ON_ERROR_STOP on
CREATE TABLE users (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), email text NOT NULL);
CREATE EXTENSION api_tokens;
INSERT INTO users (email) SELECT 'user' || i || '@example.com' FROM generate_series(1, :nusers) i;

CREATE TABLE bench_tokens (id int PRIMARY KEY, token text NOT NULL, token_hash text NOT NULL);
INSERT INTO bench_tokens
SELECT i, t, api_token_hash(t)
  FROM (SELECT i, api_token_generate() AS t FROM generate_series(1, :ntokens) i) g;

WITH u AS (SELECT id, row_number() OVER (ORDER BY id) - 1 AS n FROM users)
INSERT INTO api_tokens (user_id, name, token_hash, token_prefix, scopes, last_used_at)
SELECT u.id, 'token ' || b.id, b.token_hash, api_token_prefix(b.token), '{read,write}', now()
  FROM bench_tokens b JOIN u ON u.n = b.id % :nusers;
VACUUM ANALYZE;
