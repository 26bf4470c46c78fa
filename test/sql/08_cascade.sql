-- Deleting a user deletes the user's tokens (ON DELETE CASCADE).
\i test/sql/setup/common.sql
\set VERBOSITY terse
SET api_tokens.last_used_interval = '1d';

INSERT INTO users (id, email) VALUES
    ('00000000-0000-0000-0000-000000000008', 'heidi@example.com'),
    ('00000000-0000-0000-0000-000000000009', 'ivan@example.com');
SELECT token AS h1 FROM api_token_create('00000000-0000-0000-0000-000000000008', 'h1') \gset
SELECT token AS h2 FROM api_token_create('00000000-0000-0000-0000-000000000008', 'h2') \gset
SELECT token AS i1 FROM api_token_create('00000000-0000-0000-0000-000000000009', 'i1') \gset

SELECT count(*) FROM api_tokens WHERE user_id = '00000000-0000-0000-0000-000000000008';
DELETE FROM users WHERE id = '00000000-0000-0000-0000-000000000008';
SELECT count(*) FROM api_tokens WHERE user_id = '00000000-0000-0000-0000-000000000008';
SELECT status FROM api_token_validate(:'h1');
SELECT status FROM api_token_validate(:'h2');
SELECT status FROM api_token_validate(:'i1');

-- A token cannot point at a user that does not exist.
\set VERBOSITY sqlstate
UPDATE api_tokens SET user_id = '00000000-0000-0000-0000-000000000008';
\set VERBOSITY terse
RESET api_tokens.last_used_interval;
