-- Row Level Security benchmark fixture: :nusers users, :nrows notes spread
-- evenly over them, and one policy per login role, so that every variant
-- reads the same table, the same index and the same buffers:
--
--   web_const  USING (owner_id = '<the first user>')          a constant
--   web_fn     USING (owner_id = api_token_current_user())
--   web_sub    USING (owner_id = (SELECT api_token_current_user()))  an initplan
--
-- bench_tokens holds plaintexts for the benchmark clients to pick from:
-- ids 1 .. :ntokens are tokens of the first user (the constant's), ids
-- :ntokens + 1 .. :ntokens + :nusers one token of each user.
\set ON_ERROR_STOP on
CREATE TABLE users (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), email text NOT NULL);
CREATE EXTENSION api_tokens;
CREATE EXTENSION pg_prewarm;
INSERT INTO users (email) SELECT 'user' || i || '@example.com' FROM generate_series(1, :nusers) i;
SELECT id AS const_user FROM users ORDER BY id LIMIT 1 \gset

-- Row i belongs to user number i % :nusers (in id order): each user's rows
-- are spread over the whole table, as they are when users write over time.
CREATE TABLE notes (id bigint PRIMARY KEY, owner_id uuid NOT NULL, body text NOT NULL);
INSERT INTO notes
SELECT i, u.ids[1 + i % :nusers], md5(i::text) || md5((-i)::text)
  FROM generate_series(1, :nrows) i,
       (SELECT array_agg(id ORDER BY id) AS ids FROM users) u;
CREATE INDEX notes_owner_id ON notes (owner_id);
ALTER TABLE notes ENABLE ROW LEVEL SECURITY;

CREATE TABLE bench_tokens (id int PRIMARY KEY, user_id uuid NOT NULL, token text NOT NULL);
INSERT INTO bench_tokens
SELECT i, :'const_user', t.token
  FROM generate_series(1, :ntokens) i,
       LATERAL api_token_create(:'const_user', 'bench ' || i) t;
INSERT INTO bench_tokens
SELECT :ntokens + row_number() OVER (ORDER BY u.id), u.id, t.token
  FROM users u, LATERAL api_token_create(u.id, 'bench') t;
-- Every token was just used: with api_tokens.last_used_interval longer than
-- the benchmark, authenticating never writes.
UPDATE api_tokens SET last_used_at = now();

-- The application's roles: the group holds the privileges, each login role
-- has its own policy (a policy for a role applies to it alone here).
CREATE ROLE web_user NOLOGIN;
GRANT SELECT ON notes, bench_tokens TO web_user;
GRANT EXECUTE ON FUNCTION api_token_authenticate(text, text[]), api_token_current_user() TO web_user;
CREATE ROLE web_const LOGIN IN ROLE web_user;
CREATE ROLE web_fn LOGIN IN ROLE web_user;
CREATE ROLE web_sub LOGIN IN ROLE web_user;
CREATE POLICY notes_const ON notes FOR SELECT TO web_const
    USING (owner_id = :'const_user'::uuid);
CREATE POLICY notes_fn ON notes FOR SELECT TO web_fn
    USING (owner_id = api_token_current_user());
CREATE POLICY notes_sub ON notes FOR SELECT TO web_sub
    USING (owner_id = (SELECT api_token_current_user()));
VACUUM ANALYZE;
