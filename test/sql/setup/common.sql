-- Setup shared by the regression files (test/sql/setup/common.sql): the
-- application's users table and the extension, unless an earlier file made them.
SET client_min_messages = error;
CREATE TABLE IF NOT EXISTS users (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    email text NOT NULL UNIQUE
);
CREATE EXTENSION IF NOT EXISTS api_tokens;
RESET client_min_messages;
