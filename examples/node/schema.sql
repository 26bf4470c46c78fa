-- What the example needs: a users table with a uuid id, then the extension,
-- which creates the api_tokens table (CREATE EXTENSION needs a superuser).
CREATE TABLE IF NOT EXISTS users (
    id    uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    email text UNIQUE NOT NULL
);
CREATE EXTENSION IF NOT EXISTS api_tokens;
