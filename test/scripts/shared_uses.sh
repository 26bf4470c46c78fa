#!/usr/bin/env bash
# versions: 15 17 18
# Last use recorded in shared memory and written by the background worker
# (shared_preload_libraries = 'api_tokens'): validation never writes in the
# caller's transaction; uses in READ ONLY and SERIALIZABLE transactions reach
# last_used_at within two flush intervals; writes stay throttled, never go
# backwards, never wait for a row lock and ignore deleted tokens; a full
# table flushes early and never blocks; two databases; DROP EXTENSION,
# DROP DATABASE, a clean restart, a crash of a backend and an immediate
# shutdown with uses pending; reuses of rotated-out tokens seen where they
# could not be acted upon.  (The isolation spec of flush vs revoke vs delete,
# test/preloaded/specs, runs on a server of its own: make
# installcheck-preloaded, which test/run_tests.sh runs on every version.)
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/lib/cluster.sh
. test/lib/checks.sh

on_failure() {
	echo "-- the server log's last lines:"
	tail -n 40 "$(cluster_log main)"
}
q() { psql -X -q -v ON_ERROR_STOP=1 -At "$@"; }
# wait_in DESCRIPTION SECONDS DB SQL: until SQL prints t in database DB, or fail.
wait_in() {
	local deadline=$((SECONDS + $2))
	until [ "$(q -d "$3" -c "$4" 2>/dev/null || true)" = t ]; do
		[ $SECONDS -lt $deadline ] || fail "$1: not within $2 s"
		sleep 0.1
	done
	echo "ok: $1"
}
state() { q -c "SELECT $1 FROM api_tokens_last_use_state()"; }
# Flushing paused (a long interval) or every second; a reload wakes the
# launcher for one round, which the pause waits out.
set_interval() {
	q -c "ALTER SYSTEM SET api_tokens.flush_interval = '$1'" -c "SELECT pg_reload_conf()" >/dev/null
}
pause_flush() { set_interval 3600; sleep 1.5; }
resume_flush() { set_interval 1; }
use() { # use DB TOKEN [BEGIN options]: validates with every use due; prints status
	PGOPTIONS="-c api_tokens.last_used_interval=0" q -d "$1" \
		-c "BEGIN ${3:-}" -c "SELECT status FROM api_token_validate('$2')" -c "COMMIT"
}

# The settings of docs/last-use.md, then this test's interval and capacity.
cluster_init main
cluster_configure main "$(/usr/bin/python3 test/lib/doc_blocks.py extract docs/last-use.md preload)
api_tokens.flush_interval = 1
api_tokens.max_tracked_tokens = 100
"
cluster_start main
cluster_env main

# The extension in two databases, each with its users and tokens.
setup_db() {
	q -c "CREATE DATABASE $1"
	q -d "$1" >/dev/null <<'SQL'
CREATE TABLE users (id uuid PRIMARY KEY);
CREATE EXTENSION api_tokens;
INSERT INTO users VALUES ('00000000-0000-0000-0000-000000000001');
CREATE TABLE issued AS
  SELECT n, c.* FROM generate_series(1, 200) n,
       LATERAL api_token_create('00000000-0000-0000-0000-000000000001', 'token ' || n) c;
SQL
}
setup_db app
setup_db other
PGOPTIONS="-c client_min_messages=error" q -c "CREATE EXTENSION api_tokens" # the state function, in postgres
token() { q -d "$1" -c "SELECT token FROM issued WHERE n = $2"; }
last_used_is() { # last_used_is DB N CONDITION
	q -d "$1" -c "SELECT last_used_at $3 FROM api_tokens a JOIN issued i ON i.token_id = a.id WHERE n = $2"
}

expect "the launcher shows in pg_stat_activity" "api_tokens launcher" \
	"$(q -c "SELECT backend_type FROM pg_stat_activity WHERE backend_type LIKE 'api_tokens%'")"
expect "state: preloaded, capacity" "t|100" "$(state "preloaded, capacity")"

# No write in the caller's transaction: no transaction id assigned.
expect "validation assigns no transaction id" "valid|t" "$(PGOPTIONS="-c api_tokens.last_used_interval=0" \
	q -d app -c "BEGIN" -c "SELECT status FROM api_token_validate('$(token app 1)')" \
	-c "SELECT pg_current_xact_id_if_assigned() IS NULL" -c "COMMIT" | paste -sd'|')"
wait_in "that use is written by the worker" 2 app \
	"SELECT last_used_at IS NOT NULL FROM api_tokens a JOIN issued i ON i.token_id = a.id WHERE n = 1"

# READ ONLY and SERIALIZABLE transactions: within two flush intervals (2 s).
expect "valid in a READ ONLY transaction" valid "$(use app "$(token app 2)" "READ ONLY")"
wait_in "use in a READ ONLY transaction written within two intervals" 2 app \
	"SELECT last_used_at IS NOT NULL FROM api_tokens a JOIN issued i ON i.token_id = a.id WHERE n = 2"
expect "valid in a SERIALIZABLE transaction" valid "$(use app "$(token app 3)" "ISOLATION LEVEL SERIALIZABLE")"
wait_in "use in a SERIALIZABLE transaction written within two intervals" 2 app \
	"SELECT last_used_at IS NOT NULL FROM api_tokens a JOIN issued i ON i.token_id = a.id WHERE n = 3"
expect "a rolled-back transaction's use counts too" valid "$(PGOPTIONS="-c api_tokens.last_used_interval=0" \
	q -d app -c "BEGIN" -c "SELECT status FROM api_token_validate('$(token app 4)')" -c "ROLLBACK")"
wait_in "the rolled-back transaction's use written" 2 app \
	"SELECT last_used_at IS NOT NULL FROM api_tokens a JOIN issued i ON i.token_id = a.id WHERE n = 4"

# Throttled by the server's api_tokens.last_used_interval (one minute), never backwards.
q -d app -c "UPDATE api_tokens SET last_used_at = now() - interval '30 s' FROM issued WHERE token_id = id AND n = 5"
q -d app -c "UPDATE api_tokens SET last_used_at = now() + interval '1 h' FROM issued WHERE token_id = id AND n = 6"
q -d app -c "SELECT api_tokens_record_uses(array_agg(token_id), array_agg(now())) FROM issued WHERE n IN (5, 6)" >/dev/null
wait_in "the recorded uses were taken up" 3 postgres "SELECT pending = 0 FROM api_tokens_last_use_state()"
expect "not written within the interval" t "$(last_used_is app 5 "< now() - interval '29 s'")"
expect "never moved backwards" t "$(last_used_is app 6 "> now() + interval '59 min'")"

# A row locked by another transaction: skipped, not waited for; written once free.
q -d app -c "BEGIN" -c "SELECT 1 FROM api_tokens a JOIN issued i ON i.token_id = a.id WHERE n = 7 FOR UPDATE" \
	-c "SELECT pg_sleep(4)" -c "COMMIT" >/dev/null &
locker=$!
sleep 0.5
since=$(q -c "SELECT clock_timestamp()")
expect "valid while its row is locked" valid "$(use app "$(token app 7)")"
wait_in "a round completed without waiting for the row lock" 3 postgres \
	"SELECT last_flush > '$since' AND pending = 1 FROM api_tokens_last_use_state()"
expect "no flusher waits for a lock" 0 \
	"$(q -c "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'api_tokens flusher' AND wait_event_type = 'Lock'")"
expect "not written while locked" t "$(last_used_is app 7 "IS NULL")"
wait "$locker"
wait_in "written once the lock is gone" 3 app \
	"SELECT last_used_at IS NOT NULL FROM api_tokens a JOIN issued i ON i.token_id = a.id WHERE n = 7"

# A token deleted before the flush: ignored, nothing left pending, no error.
pause_flush
expect "valid before its deletion" valid "$(use app "$(token app 8)")"
q -d app -c "DELETE FROM api_tokens USING issued WHERE token_id = id AND n = 8"
expect "a use pending" 1 "$(state pending)"
resume_flush
wait_in "the deleted token's use is dropped" 3 postgres "SELECT pending = 0 FROM api_tokens_last_use_state()"

# Full (100 tokens): further tokens' uses are dropped, validation never blocks
# and the worker flushes at once, although the interval is an hour.
pause_flush
dropped_before=$(state dropped)
for n in $(seq 11 160); do
	echo "SELECT status FROM api_token_validate((SELECT token FROM issued WHERE n = $n));"
done | PGOPTIONS="-c api_tokens.last_used_interval=0" q -d app | sort | uniq -c |
	awk '{print $2 "=" $1}' | { read -r line; expect "150 validations while full" "valid=150" "$line"; }
expect "uses beyond the capacity were dropped (counted)" t "$(state "dropped > $dropped_before")"
wait_in "a full table is flushed before the interval" 5 app \
	"SELECT count(*) >= 100 FROM api_tokens a JOIN issued i ON i.token_id = a.id WHERE n BETWEEN 11 AND 160 AND last_used_at IS NOT NULL"
resume_flush

# Two databases: each one's uses reach its own table.
expect "valid in app" valid "$(use app "$(token app 170)")"
expect "valid in other" valid "$(use other "$(token other 170)")"
wait_in "use written in app" 3 app \
	"SELECT last_used_at IS NOT NULL FROM api_tokens a JOIN issued i ON i.token_id = a.id WHERE n = 170"
wait_in "use written in other" 3 other \
	"SELECT last_used_at IS NOT NULL FROM api_tokens a JOIN issued i ON i.token_id = a.id WHERE n = 170"
expect "other's tokens untouched by app's uses" 1 \
	"$(q -d other -c "SELECT count(*) FROM api_tokens WHERE last_used_at IS NOT NULL")"

# A rotated-out token presented where the transaction cannot write (READ
# ONLY), or does not commit (PostgREST's, once its pre-request refused the
# token): the flusher acts on the reuse, as the session that saw it was set.
rotate() { q -d app -c "SELECT 1 FROM api_token_rotate((SELECT token_id FROM issued WHERE n = $1))" >/dev/null; }
reused() { # reused N ACTION: the SQL that says token N's reuse was recorded so
	echo "SELECT count(*) = 1 FROM api_token_events e JOIN issued i ON i.token_id = e.token_id
	       WHERE n = $1 AND event = 'reused' AND detail->>'action' = '$2'"
}
rotate 190
expect "rotated, in a READ ONLY transaction" rotated "$(q -d app -c "BEGIN READ ONLY" \
	-c "SELECT status FROM api_token_validate('$(token app 190)')" -c "COMMIT")"
wait_in "the worker recorded that reuse" 5 app "$(reused 190 report)"
rotate 191
refused=$(q -d app -c "SET api_tokens.rotated_reuse = revoke_family" -c "BEGIN" \
	-c "SELECT set_config('request.headers', '{\"x-api-key\": \"$(token app 191)\"}', true)" \
	-c "SELECT api_tokens_pre_request()" 2>&1 || true)
expect "the pre-request refuses it" t "$(grep -q 'invalid API token' <<<"$refused" && echo t || echo f)"
wait_in "the worker revoked its successor" 5 app \
	"SELECT NOT is_active FROM api_tokens WHERE id = api_token_successor((SELECT token_id FROM issued WHERE n = 191))"
expect "and recorded the reuse" t "$(q -d app -c "$(reused 191 revoke_family)")"

# DROP EXTENSION (and its table), DROP DATABASE, with uses pending: forgotten.
pause_flush
setup_db doomed
expect "valid in other before DROP EXTENSION" valid "$(use other "$(token other 171)")"
expect "valid in doomed before DROP DATABASE" valid "$(use doomed "$(token doomed 1)")"
q -d other -c "DROP EXTENSION api_tokens" -c "DROP TABLE api_tokens CASCADE"
q -c "DROP DATABASE doomed"
expect "two uses pending" 2 "$(state pending)"
resume_flush
wait_in "uses of a dropped table and database are forgotten" 3 postgres \
	"SELECT pending = 0 FROM api_tokens_last_use_state()"

# A clean restart with uses pending: saved, loaded, written.
pause_flush
expect "valid before the restart" valid "$(use app "$(token app 180)")"
as_cluster_owner "$PGBIN/pg_ctl" -D "$(cluster_dir main)/data" -m fast -w restart >/dev/null
expect "the pending use survived the restart" 1 "$(state pending)"
resume_flush
wait_in "and is written after it" 3 app \
	"SELECT last_used_at IS NOT NULL FROM api_tokens a JOIN issued i ON i.token_id = a.id WHERE n = 180"

# A backend crash (the server reinitializes shared memory) and an immediate
# shutdown: pending uses are lost, nothing else; the server and the worker
# come back.
pause_flush
expect "valid before the crash" valid "$(use app "$(token app 181)")"
q -c "SELECT pg_backend_pid()" >/dev/null
pid=$(q -d app -c "SELECT pid FROM pg_stat_activity WHERE backend_type = 'api_tokens launcher'")
kill -9 "$pid"
wait_in "the server is back after the crash" 30 postgres "SELECT preloaded FROM api_tokens_last_use_state()"
expect "the pending use was lost in the crash" 0 "$(state pending)"
expect "valid after the crash" valid "$(use app "$(token app 181)")"
wait_in "the launcher restarted" 30 postgres \
	"SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'api_tokens launcher'"
expect "valid before the immediate shutdown" valid "$(use app "$(token app 182)")"
as_cluster_owner "$PGBIN/pg_ctl" -D "$(cluster_dir main)/data" -m immediate -w stop >/dev/null
cluster_start main
expect "nothing pending after the immediate shutdown" 0 "$(state pending)"
expect "the lost use was never written" t "$(last_used_is app 182 "IS NULL")"
expect "what was written before stays" t "$(last_used_is app 180 "IS NOT NULL")"
resume_flush
expect "valid after the restart" valid "$(use app "$(token app 182)")"
wait_in "uses are written again" 3 app \
	"SELECT last_used_at IS NOT NULL FROM api_tokens a JOIN issued i ON i.token_id = a.id WHERE n = 182"

# No token or hash in the log; no error but those the crash tests caused.
log=$(cluster_log main)
for n in 1 2 3 7 8 170 180 181 182 190 191; do
	t=$(token app "$n")
	grep -qF "$t" "$log" && fail "a token in the server log"
	h=$(q -d app -c "SELECT token_hash FROM api_tokens a JOIN issued i ON i.token_id = a.id WHERE n = $n")
	[ -n "$h" ] && grep -qF "$h" "$log" && fail "a token hash in the server log"
done
echo "ok: no token or hash in the server log"
grep -E "api_tokens (flusher|could)" "$log" && fail "the worker logged an error"
echo "ok: the worker logged no error"
echo "shared_uses: all checks passed"
