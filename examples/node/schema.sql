-- What the example needs: a users table with a uuid id, then the extension,
-- which creates the api_tokens table (CREATE EXTENSION needs a superuser),
-- in a schema of its own that only the superuser owns and creates in: a
-- call of api_tokens.api_token_validate(...) then reaches the extension's
-- function, whatever another role creates in public.
CREATE TABLE IF NOT EXISTS public.users (
    id    uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    email text UNIQUE NOT NULL
);
CREATE SCHEMA IF NOT EXISTS api_tokens;
SET api_tokens.users_table = 'public.users';
CREATE EXTENSION IF NOT EXISTS api_tokens SCHEMA api_tokens;
RESET api_tokens.users_table;
