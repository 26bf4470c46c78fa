-- Attacks on 1.2's limits by roles that are not superusers, and by rows
-- and settings that would weaken them: every one is refused, and a token
-- is never let through with a limit it should have had.
--
-- lim_owner owns the database (and so schema public, PostgreSQL 15);
-- lim_app may validate tokens, nothing more.
\set VERBOSITY terse
SET client_min_messages = warning;
CREATE ROLE lim_owner LOGIN;
CREATE ROLE lim_app LOGIN;
CREATE DATABASE attack_limits OWNER lim_owner TEMPLATE template0;
\c attack_limits
SET client_min_messages = warning;
\set VERBOSITY terse
\set ON_ERROR_ROLLBACK on
SET api_tokens.last_used_interval = '1d';
CREATE TABLE users (id uuid PRIMARY KEY);
INSERT INTO users VALUES ('00000000-0000-0000-0000-0000000000d1');
CREATE SCHEMA tokens;
CREATE EXTENSION api_tokens SCHEMA tokens;
SELECT tokens.api_tokens_create_table('users');
GRANT USAGE ON SCHEMA tokens TO lim_app, lim_owner;
GRANT EXECUTE ON FUNCTION tokens.api_token_verify(text, text[], inet, integer) TO lim_app;
GRANT EXECUTE ON FUNCTION tokens.api_token_validate(text, text[]) TO lim_app;
SELECT token_id AS tid, token AS tok
  FROM tokens.api_token_create('00000000-0000-0000-0000-0000000000d1', 'limited', '{read}') \gset
SELECT tokens.api_token_set_allowed_addresses(:'tid', '{10.0.0.0/8}');
SELECT tokens.api_token_set_credits(:'tid', 2);

-------------------------------------------------------------------------------
-- attack_lift_own_limits: a role that may validate may not set, lift or
-- read limits, nor write the table.
-------------------------------------------------------------------------------
SET ROLE lim_app;
SELECT status, credits_remaining FROM tokens.api_token_verify(:'tok', NULL, '10.0.0.1', 1);
SELECT tokens.api_token_set_allowed_addresses(:'tid', NULL);
SELECT tokens.api_token_set_credits(:'tid', 1000000);
SELECT tokens.api_token_set_rate_limit(:'tid', NULL, NULL);
UPDATE tokens.api_token_limits SET credits = 1000000;
DELETE FROM tokens.api_token_limits;
SELECT count(*) FROM tokens.api_token_limits;
SELECT * FROM tokens.api_tokens_limit_state();
RESET ROLE;

-------------------------------------------------------------------------------
-- attack_owner_lifts_limits: the database owner has no more right to them.
-------------------------------------------------------------------------------
SET ROLE lim_owner;
SELECT tokens.api_token_set_allowed_addresses(:'tid', NULL);
UPDATE tokens.api_token_limits SET allowed_addresses = NULL;
INSERT INTO tokens.api_token_events (at, token_id, event, db_user)
VALUES (now(), :'tid', 'limits_set', 'lim_owner');
RESET ROLE;

-------------------------------------------------------------------------------
-- attack_idle_setting: api_tokens.max_idle is a policy only a superuser
-- sets; neither a session nor the database owner can lift it.
-------------------------------------------------------------------------------
SET ROLE lim_app;
SET api_tokens.max_idle = 0;
SELECT set_config('api_tokens.max_idle', '0', true);
RESET ROLE;
SET ROLE lim_owner;
ALTER DATABASE attack_limits SET api_tokens.max_idle = 0;
-- (Its message differs between versions: only the SQLSTATE is shown.)
\set VERBOSITY sqlstate
ALTER ROLE lim_app SET api_tokens.max_idle = 0;
\set VERBOSITY terse
RESET ROLE;

-------------------------------------------------------------------------------
-- attack_spend_overflow: costs at the edges of their types.
-------------------------------------------------------------------------------
SELECT status, credits_remaining FROM tokens.api_token_verify(:'tok', NULL, '10.0.0.1', 2147483647);
SELECT status FROM tokens.api_token_verify(:'tok', NULL, '10.0.0.1', -2147483648);
SELECT tokens.api_token_set_credits(:'tid', 9223372036854775807);
SELECT status, credits_remaining FROM tokens.api_token_verify(:'tok', NULL, '10.0.0.1', 2147483647);
SELECT tokens.api_token_set_credits(:'tid', 1, 9223372036854775807, '1 microsecond');
UPDATE tokens.api_token_limits SET credits = 0, credits_refilled_at = '4714-11-24 00:00:00+00 BC';
SELECT status, credits_remaining FROM tokens.api_token_verify(:'tok', NULL, '10.0.0.1', 1);
UPDATE tokens.api_token_limits SET credits = 0, credits_refilled_at = 'infinity';
SELECT status, credits_remaining FROM tokens.api_token_verify(:'tok', NULL, '10.0.0.1', 1);
SELECT tokens.api_token_set_credits(:'tid', 2);

-------------------------------------------------------------------------------
-- attack_huge_allowlist, attack_malformed_cidr: bounded lists, typed input.
-------------------------------------------------------------------------------
SELECT tokens.api_token_set_allowed_addresses(:'tid',
    (SELECT array_agg(('10.0.' || i / 256 || '.' || i % 256 || '/32')::cidr) FROM generate_series(1, 1001) i));
SELECT tokens.api_token_set_allowed_addresses(:'tid',
    (SELECT array_agg(('10.0.' || i / 256 || '.' || i % 256 || '/32')::cidr) FROM generate_series(1, 1000) i));
SELECT status FROM tokens.api_token_verify(:'tok', NULL, '10.0.3.232', 0);
SELECT status FROM tokens.api_token_verify(:'tok', NULL, '10.0.3.233', 0);
SELECT tokens.api_token_set_allowed_addresses(:'tid', '{10.0.0.0/33}');
SELECT tokens.api_token_set_allowed_addresses(:'tid', '{10.1.2.3/8}');
SELECT tokens.api_token_set_allowed_addresses(:'tid', '{not-an-address}');
SELECT status FROM tokens.api_token_verify(:'tok', NULL, 'not-an-address', 0);
SELECT status FROM tokens.api_token_verify(:'tok', NULL, '10.0.0.1/8', 0);
SELECT tokens.api_token_set_allowed_addresses(:'tid', '{10.0.0.0/8}');

-------------------------------------------------------------------------------
-- attack_weakened_table: a superuser (or a restore) drops the table's
-- checks and writes values they forbid; the token is refused, never let
-- through unlimited.
-------------------------------------------------------------------------------
ALTER TABLE tokens.api_token_limits DROP CONSTRAINT api_token_limits_credits_check;
ALTER TABLE tokens.api_token_limits DROP CONSTRAINT api_token_limits_rate_limit_check;
ALTER TABLE tokens.api_token_limits DROP CONSTRAINT api_token_limits_rate_check;
ALTER TABLE tokens.api_token_limits DROP CONSTRAINT api_token_limits_allowed_addresses_check;
-- (The error names the token's random id: only its SQLSTATE is shown.)
\set VERBOSITY sqlstate
UPDATE tokens.api_token_limits SET credits = -5;
SELECT status FROM tokens.api_token_verify(:'tok', NULL, '10.0.0.1', 0);
UPDATE tokens.api_token_limits SET credits = 2, rate_limit = 0, rate_window = '1 minute';
SELECT status FROM tokens.api_token_verify(:'tok', NULL, '10.0.0.1', 0);
UPDATE tokens.api_token_limits SET rate_limit = 5, rate_window = NULL;
SELECT status FROM tokens.api_token_verify(:'tok', NULL, '10.0.0.1', 0);
UPDATE tokens.api_token_limits SET rate_limit = NULL, rate_window = NULL,
    allowed_addresses = '{{10.0.0.0/8},{11.0.0.0/8}}';
SELECT status FROM tokens.api_token_verify(:'tok', NULL, '10.0.0.1', 0);
\set VERBOSITY terse
UPDATE tokens.api_token_limits SET allowed_addresses = '{NULL, 10.0.0.0/8}';
SELECT status FROM tokens.api_token_verify(:'tok', NULL, '10.0.0.1', 0);
SELECT status FROM tokens.api_token_verify(:'tok', NULL, '11.0.0.1', 0);
UPDATE tokens.api_token_limits SET allowed_addresses = '{10.0.0.0/8}';

-------------------------------------------------------------------------------
-- attack_replaced_limits_table: a limits table its owner cannot be trusted
-- with (another owner) is refused, for every token.
-------------------------------------------------------------------------------
ALTER TABLE tokens.api_token_limits OWNER TO lim_owner;
SELECT status FROM tokens.api_token_verify(:'tok', NULL, '10.0.0.1', 0);
ALTER TABLE tokens.api_token_limits OWNER TO CURRENT_USER;
SELECT status FROM tokens.api_token_verify(:'tok', NULL, '10.0.0.1', 0);
-- Dropped: from 1.2 on, missing limits fail every validation loudly.
ALTER TABLE tokens.api_token_limits RENAME TO api_token_limits_away;
SELECT status FROM tokens.api_token_verify(:'tok', NULL, '10.0.0.1', 0);
SELECT status FROM tokens.api_token_validate(:'tok');
ALTER TABLE tokens.api_token_limits_away RENAME TO api_token_limits;
SELECT status FROM tokens.api_token_verify(:'tok', NULL, '10.0.0.1', 0);

-------------------------------------------------------------------------------
-- attack_deferrable_limits_key: a unique key checked only at commit lets a
-- transaction hold two rows of one token (the row a validation finds, by
-- index or where it last was, would depend on which it meets first): such
-- a table is refused until its key is checked at once again.
-------------------------------------------------------------------------------
ALTER TABLE tokens.api_token_limits DROP CONSTRAINT api_token_limits_pkey,
    ADD CONSTRAINT api_token_limits_pkey PRIMARY KEY (token_id) DEFERRABLE;
SELECT status FROM tokens.api_token_verify(:'tok', NULL, '10.0.0.1', 0);
ALTER TABLE tokens.api_token_limits DROP CONSTRAINT api_token_limits_pkey,
    ADD CONSTRAINT api_token_limits_pkey PRIMARY KEY (token_id);
SELECT status FROM tokens.api_token_verify(:'tok', NULL, '10.0.0.1', 0);

-------------------------------------------------------------------------------
-- attack_invalid_max_idle: a value stored before the library was loaded
-- (ALTER DATABASE cannot check it then) is only warned about when the
-- library loads, and the setting keeps its default, no limit.  Validation
-- then refuses to run, rather than run without the policy.
-------------------------------------------------------------------------------
\c attack_limits
ALTER DATABASE attack_limits SET api_tokens.max_idle = '90 parsecs';
\c attack_limits
SET client_min_messages = error;
\set VERBOSITY default
SELECT status FROM tokens.api_token_verify(:'tok', NULL, '10.0.0.1', 0);
SELECT status FROM tokens.api_token_validate(:'tok');
\set VERBOSITY terse
ALTER DATABASE attack_limits RESET api_tokens.max_idle;
\c attack_limits
SET client_min_messages = warning;
SELECT status FROM tokens.api_token_verify(:'tok', NULL, '10.0.0.1', 0);

-- After all of it, nobody but the superuser could change anything.
SELECT rolname, rolsuper FROM pg_roles WHERE rolname IN ('lim_owner', 'lim_app') ORDER BY 1;

\c contrib_regression
SET client_min_messages = warning;
DROP DATABASE attack_limits;
DROP ROLE lim_owner;
DROP ROLE lim_app;
