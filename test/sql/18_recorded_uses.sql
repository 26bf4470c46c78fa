-- Uses forwarded by a standby (api_tokens_record_uses) and the state of the
-- shared-memory bookkeeping, on a server that does not preload the library
-- (as make installcheck runs): forwarded uses are written at once, with the
-- same rules as any use.  The preloaded server, its worker and standbys are
-- tested by test/scripts/shared_uses.sh and standby_uses.sh.
\i test/sql/setup/common.sql
\set VERBOSITY terse

-- Not preloaded: nothing in shared memory, and no worker.
SELECT preloaded, pending, capacity, recorded, last_flush, last_error FROM api_tokens_last_use_state();
SELECT count(*) AS databases_tracked FROM api_tokens_last_use_databases();
SELECT count(*) AS workers FROM pg_stat_activity WHERE backend_type LIKE 'api_tokens%';
SELECT current_setting('api_tokens.flush_interval') AS flush_interval;
SELECT current_setting('api_tokens.max_tracked_tokens', true) AS max_tracked_tokens_unset;

INSERT INTO users (id, email) VALUES ('00000000-0000-0000-0000-000000000018', 'forwarded@example.com');
SELECT token_id AS used_id FROM api_token_create('00000000-0000-0000-0000-000000000018', 'used on a standby') \gset
SELECT token_id AS other_id FROM api_token_create('00000000-0000-0000-0000-000000000018', 'other') \gset

-- A use seen on a standby: written on the primary.
SELECT api_tokens_record_uses(ARRAY[:'used_id']::uuid[], ARRAY['2026-01-02 03:04:05+00']::timestamptz[]) AS recorded;
SELECT last_used_at = '2026-01-02 03:04:05+00' AS written FROM api_tokens WHERE id = :'used_id';

-- Never backwards, and throttled by api_tokens.last_used_interval (one minute).
SELECT api_tokens_record_uses(ARRAY[:'used_id']::uuid[], ARRAY['2026-01-01 00:00:00+00']::timestamptz[]) AS recorded;
SELECT api_tokens_record_uses(ARRAY[:'used_id']::uuid[], ARRAY['2026-01-02 03:04:35+00']::timestamptz[]) AS recorded;
SELECT last_used_at = '2026-01-02 03:04:05+00' AS unchanged FROM api_tokens WHERE id = :'used_id';
SELECT api_tokens_record_uses(ARRAY[:'used_id']::uuid[], ARRAY['2026-01-02 03:05:05+00']::timestamptz[]) AS recorded;
SELECT last_used_at = '2026-01-02 03:05:05+00' AS moved_on FROM api_tokens WHERE id = :'used_id';

-- attack_future_use: a use in the future counts as now, an infinite one not at all,
-- so that no caller can stop last_used_at from moving (it never goes backwards).
SELECT api_tokens_record_uses(ARRAY[:'other_id', :'used_id']::uuid[],
                              ARRAY['infinity', '3000-01-01']::timestamptz[]) AS recorded;
SELECT id = :'used_id' AS is_used, last_used_at IS NULL AS never,
       last_used_at <= now() AND last_used_at >= now() - interval '1 minute' AS now_at_most
  FROM api_tokens WHERE id IN (:'used_id', :'other_id') ORDER BY 1;

-- Unknown and deleted tokens are ignored; NULL elements are skipped (the count is
-- of the uses taken).
SELECT api_tokens_record_uses(ARRAY[gen_random_uuid(), NULL]::uuid[], ARRAY[now(), now()]) AS recorded;
SELECT api_tokens_record_uses('{}', '{}') AS recorded;

-- attack_record_uses_read_only: without the library preloaded the uses are
-- written in the caller's transaction, which must be able to write: a READ
-- ONLY transaction is refused (25006), and nothing is written.
BEGIN READ ONLY;
\set VERBOSITY sqlstate
SELECT api_tokens_record_uses(ARRAY[:'other_id']::uuid[], ARRAY[now()]);
\set VERBOSITY terse
ROLLBACK;
SELECT last_used_at IS NULL AS not_written FROM api_tokens WHERE id = :'other_id';

-- Bad input: clear errors.
SELECT api_tokens_record_uses(NULL, ARRAY[now()]);
SELECT api_tokens_record_uses(ARRAY[:'used_id']::uuid[], ARRAY[now(), now()]);

-- None of the functions is for PUBLIC; monitoring roles read the state.
SELECT p.oid::regprocedure AS function,
       has_function_privilege('public', p.oid, 'EXECUTE') AS public_can,
       has_function_privilege('pg_read_all_stats', p.oid, 'EXECUTE') AS read_all_stats_can
  FROM pg_proc p
 WHERE p.proname IN ('api_tokens_record_uses', 'api_tokens_last_use_state',
                     'api_tokens_last_use_databases')
 ORDER BY p.oid::regprocedure::text;

-- attack_password_in_forward_conninfo: a setting may be read by members of
-- pg_read_all_settings, so a connection string with a password is refused,
-- and the error does not repeat it.
\set VERBOSITY default
ALTER SYSTEM SET api_tokens.forward_conninfo = 'host=primary user=forwarder password=s3cret';
ALTER SYSTEM SET api_tokens.forward_conninfo = 'host=primary user=forwarder password=';
ALTER SYSTEM SET api_tokens.forward_conninfo = 'host=primary user';
\set VERBOSITY terse
ALTER SYSTEM SET api_tokens.forward_conninfo = 'host=primary user=forwarder passfile=/etc/forwarder.pgpass';
ALTER SYSTEM RESET api_tokens.forward_conninfo;
