-- last_used_at bookkeeping: at most once per api_tokens.last_used_interval,
-- only for valid tokens, never in read-only or serializable transactions.
\set VERBOSITY terse

INSERT INTO users (id, email) VALUES ('00000000-0000-0000-0000-000000000004', 'dave@example.com');
SELECT token_id, token
  FROM api_token_create('00000000-0000-0000-0000-000000000004', 'used', '{read}') \gset
CREATE TEMP TABLE subject AS SELECT :'token_id'::uuid AS id;
CREATE FUNCTION last_used() RETURNS timestamptz LANGUAGE sql
    AS $$ SELECT last_used_at FROM api_tokens WHERE id = (SELECT id FROM subject) $$;
CREATE FUNCTION set_last_used(timestamptz) RETURNS void LANGUAGE sql
    AS $$ UPDATE api_tokens SET last_used_at = $1 WHERE id = (SELECT id FROM subject) $$;

SHOW api_tokens.last_used_interval;

-- Each check runs in one transaction, so that now() is one instant.
-- The first use is always recorded.
BEGIN;
SELECT last_used() IS NULL AS never_used;
SELECT status FROM api_token_validate(:'token');
SELECT last_used() = now() AS recorded;
COMMIT;

-- Within the interval: not written again.
BEGIN;
SELECT set_last_used(now() - interval '59 seconds');
SELECT status FROM api_token_validate(:'token');
SELECT last_used() = now() - interval '59 seconds' AS unchanged;
COMMIT;

-- Once the interval has passed: written.
BEGIN;
SELECT set_last_used(now() - interval '60 seconds');
SELECT status FROM api_token_validate(:'token');
SELECT last_used() = now() AS recorded;
COMMIT;

-- A longer interval.
SET api_tokens.last_used_interval = '1h';
SHOW api_tokens.last_used_interval;
BEGIN;
SELECT set_last_used(now() - interval '59 minutes');
SELECT status FROM api_token_validate(:'token');
SELECT last_used() = now() - interval '59 minutes' AS unchanged;
SELECT set_last_used(now() - interval '61 minutes');
SELECT status FROM api_token_validate(:'token');
SELECT last_used() = now() AS recorded;
COMMIT;

-- 0 records every use.
SET api_tokens.last_used_interval = 0;
BEGIN;
SELECT set_last_used(now() - interval '1 microsecond');
SELECT status FROM api_token_validate(:'token');
SELECT last_used() = now() AS recorded;
COMMIT;

-- A last use in the future (clock moved back) is left alone until passed.
SET api_tokens.last_used_interval = '1min';
BEGIN;
SELECT set_last_used(now() + interval '1 hour');
SELECT status FROM api_token_validate(:'token');
SELECT last_used() = now() + interval '1 hour' AS unchanged;
COMMIT;
SET api_tokens.last_used_interval = 0;

-- Only valid uses count.
SELECT set_last_used('2000-01-01 00:00:00+00');
SELECT status FROM api_token_validate(:'token', '{admin}');
SELECT last_used() = '2000-01-01 00:00:00+00' AS unchanged_by_insufficient_scope;
UPDATE api_tokens SET is_active = false WHERE id = :'token_id';
SELECT status FROM api_token_validate(:'token');
SELECT last_used() = '2000-01-01 00:00:00+00' AS unchanged_by_inactive;
UPDATE api_tokens SET is_active = true, expires_at = now() WHERE id = :'token_id';
SELECT status FROM api_token_validate(:'token');
SELECT last_used() = '2000-01-01 00:00:00+00' AS unchanged_by_expired;
UPDATE api_tokens SET expires_at = NULL WHERE id = :'token_id';

-- A read-only transaction validates and writes nothing.
BEGIN READ ONLY;
SELECT status FROM api_token_validate(:'token');
COMMIT;
SELECT last_used() = '2000-01-01 00:00:00+00' AS unchanged_read_only;
SET default_transaction_read_only = on;
SELECT status FROM api_token_validate(:'token');
RESET default_transaction_read_only;
SELECT last_used() = '2000-01-01 00:00:00+00' AS unchanged_read_only;

-- SERIALIZABLE: skipped, so the bookkeeping never adds serialization conflicts.
BEGIN ISOLATION LEVEL SERIALIZABLE;
SELECT status FROM api_token_validate(:'token');
COMMIT;
SELECT last_used() = '2000-01-01 00:00:00+00' AS unchanged_serializable;

-- REPEATABLE READ: recorded.
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT status FROM api_token_validate(:'token');
COMMIT;
SELECT last_used() > '2000-01-01 00:00:00+00' AS recorded_repeatable_read;

-- Several validations in one transaction, and the write rolls back with it.
SELECT set_last_used('2000-01-01 00:00:00+00');
BEGIN;
SELECT status FROM api_token_validate(:'token');
SELECT status FROM api_token_validate(:'token');
SELECT last_used() = now() AS recorded_in_transaction;
ROLLBACK;
SELECT last_used() = '2000-01-01 00:00:00+00' AS rolled_back;

-- The interval is a superuser setting.
CREATE ROLE not_admin;
SET ROLE not_admin;
SET api_tokens.last_used_interval = 0;
RESET ROLE;
DROP ROLE not_admin;
SET api_tokens.last_used_interval = -1;
RESET api_tokens.last_used_interval;

DROP FUNCTION last_used();
DROP FUNCTION set_last_used(timestamptz);
DROP TABLE subject;
