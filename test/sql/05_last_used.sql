-- last_used_at bookkeeping: at most once per api_tokens.last_used_interval,
-- only for valid tokens, written when the transaction commits, never in
-- read-only or serializable transactions.
\i test/sql/setup/common.sql
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

-- Each check runs in one transaction, whose time (now()) is kept in :t,
-- and looks at last_used_at once it has committed.
-- The first use is always recorded, at commit.
BEGIN;
SELECT now() AS t \gset
SELECT last_used() IS NULL AS never_used;
SELECT status FROM api_token_validate(:'token');
SELECT last_used() IS NULL AS not_yet_written;
COMMIT;
SELECT last_used() = :'t' AS recorded;

-- Within the interval: not written again.
BEGIN;
SELECT now() AS t \gset
SELECT set_last_used(now() - interval '59 seconds');
SELECT status FROM api_token_validate(:'token');
COMMIT;
SELECT last_used() = :'t'::timestamptz - interval '59 seconds' AS unchanged;

-- Once the interval has passed: written.
BEGIN;
SELECT now() AS t \gset
SELECT set_last_used(now() - interval '60 seconds');
SELECT status FROM api_token_validate(:'token');
COMMIT;
SELECT last_used() = :'t' AS recorded;

-- A longer interval.
SET api_tokens.last_used_interval = '1h';
SHOW api_tokens.last_used_interval;
BEGIN;
SELECT now() AS t \gset
SELECT set_last_used(now() - interval '59 minutes');
SELECT status FROM api_token_validate(:'token');
COMMIT;
SELECT last_used() = :'t'::timestamptz - interval '59 minutes' AS unchanged;
BEGIN;
SELECT now() AS t \gset
SELECT set_last_used(now() - interval '61 minutes');
SELECT status FROM api_token_validate(:'token');
COMMIT;
SELECT last_used() = :'t' AS recorded;

-- 0 records every use.
SET api_tokens.last_used_interval = 0;
BEGIN;
SELECT now() AS t \gset
SELECT set_last_used(now() - interval '1 microsecond');
SELECT status FROM api_token_validate(:'token');
COMMIT;
SELECT last_used() = :'t' AS recorded;

-- A last use in the future (clock moved back) is left alone until passed.
SET api_tokens.last_used_interval = '1min';
BEGIN;
SELECT now() AS t \gset
SELECT set_last_used(now() + interval '1 hour');
SELECT status FROM api_token_validate(:'token');
COMMIT;
SELECT last_used() = :'t'::timestamptz + interval '1 hour' AS unchanged;
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
SELECT now() AS t \gset
SELECT status FROM api_token_validate(:'token');
COMMIT;
SELECT last_used() = :'t' AS recorded_repeatable_read;

-- A rolled-back transaction records nothing.
SELECT set_last_used('2000-01-01 00:00:00+00');
BEGIN;
SELECT status FROM api_token_validate(:'token');
ROLLBACK;
SELECT last_used() = '2000-01-01 00:00:00+00' AS rolled_back;

-- Many validations of one token in one transaction write one row version,
-- at commit, whatever the interval: none of them has to walk row versions
-- written by the others (with one write per validation, N validations cost
-- O(N^2)).
SELECT set_last_used('2000-01-01 00:00:00+00');
SELECT pg_stat_force_next_flush();
SELECT n_tup_upd AS updates_before FROM pg_stat_user_tables WHERE relid = 'api_tokens'::regclass \gset
BEGIN;
SELECT now() AS t \gset
SELECT count(*) FILTER (WHERE v.status = 'valid') AS valid
  FROM generate_series(1, 1000), LATERAL api_token_validate(:'token') AS v;
COMMIT;
SELECT pg_stat_force_next_flush();
SELECT n_tup_upd - :updates_before AS row_versions_written
  FROM pg_stat_user_tables WHERE relid = 'api_tokens'::regclass;
SELECT last_used() = :'t' AS recorded;

-- The interval is a superuser setting.
CREATE ROLE not_admin;
SET ROLE not_admin;
SET api_tokens.last_used_interval = 0;
RESET ROLE;
DROP ROLE not_admin;
-- (The message spells the range differently from one version to the next.)
\set VERBOSITY sqlstate
SET api_tokens.last_used_interval = -1;
\set VERBOSITY terse
RESET api_tokens.last_used_interval;

DROP FUNCTION last_used();
DROP FUNCTION set_last_used(timestamptz);
DROP TABLE subject;
