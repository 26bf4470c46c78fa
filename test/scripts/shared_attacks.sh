#!/usr/bin/env bash
# versions: 15 17 18
# Attacks on the preloaded engine's shared state by a database owner who is
# not a superuser, and through its saved file.  One database must never
# starve another of the shared table, whatever its owner does:
#
# attack_fill_from_a_database_that_cannot_flush: a database fills the shared
#   table with uses and handed-over reuses, then its owner forbids
#   connections, so that its flusher cannot connect; another database's
#   uses are written and its reuse acted upon, the first's drops counted,
#   its failure reported and its flusher put off, not restarted in a loop.
# attack_lock_pins_the_flusher: a transaction holds a lock on api_tokens;
#   that database's flusher gives up after a second, the others go on.
# attack_worker_takes_owner_settings: ALTER DATABASE ... SET of
#   default_transaction_read_only, exit_on_error, statement_timeout and
#   api_tokens.actor by the owner change nothing the worker does.
# attack_serializable_reuse: a reuse seen in a SERIALIZABLE transaction is
#   acted upon by the worker.
# attack_saved_infinite_use: a saved use at the end of time is loaded as now.
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/lib/cluster.sh
. test/lib/checks.sh
. test/lib/packages.sh
ensure_packages python3-minimal

on_failure() {
	echo "-- the server log's last lines:"
	tail -n 40 "$(cluster_log main)"
	q -c "SELECT * FROM api_tokens_last_use_databases()" || true
}
q() { psql -X -q -v ON_ERROR_STOP=1 -At "$@"; }
wait_in() { # wait_in DESCRIPTION SECONDS DB SQL
	local deadline=$((SECONDS + $2))
	until [ "$(q -d "$3" -c "$4" 2>/dev/null || true)" = t ]; do
		[ $SECONDS -lt $deadline ] || fail "$1: not within $2 s"
		sleep 0.1
	done
	echo "ok: $1"
}
set_interval() {
	q -c "ALTER SYSTEM SET api_tokens.flush_interval = '$1'" -c "SELECT pg_reload_conf()" >/dev/null
}
pause_flush() { set_interval 3600; sleep 1.5; }
resume_flush() { set_interval 1; }
# validations DB SQL-FOR-TOKENS [BEGIN options]: validates each token in one
# transaction, every use due; prints the statuses, counted.
validations() {
	PGOPTIONS="-c api_tokens.last_used_interval=0 ${CLIENT_OPTIONS:-}" q -d "$1" -c "BEGIN ${3:-}" \
		-c "SELECT v.status, count(*) FROM ($2) t, LATERAL api_token_validate(t.token) v GROUP BY 1" \
		-c "COMMIT" | paste -sd' '
}
database_row() { # database_row DB COLUMNS
	q -c "SELECT $2 FROM api_tokens_last_use_databases() WHERE datid = (SELECT oid FROM pg_database WHERE datname = '$1')"
}
written() { # written DB FROM TO: the SQL that says tokens FROM..TO have a last use
	echo "SELECT count(*) = $3 - $2 + 1 FROM api_tokens a JOIN issued i ON i.token_id = a.id
	       WHERE n BETWEEN $2 AND $3 AND last_used_at IS NOT NULL"
}
reused() { # reused N: the SQL that says the reuse of token N was recorded
	echo "SELECT count(*) = 1 FROM api_token_events e JOIN issued i ON i.token_id = e.token_id
	       WHERE n = $1 AND event = 'reused'"
}

cluster_init main
cluster_configure main "
shared_preload_libraries = 'api_tokens'
api_tokens.flush_interval = 1
api_tokens.max_tracked_tokens = 100
"
cluster_start main
cluster_env main

q -c "CREATE ROLE dbowner LOGIN"
setup_db() { # setup_db NAME OWNER: the extension, by a superuser, and 200 tokens
	q -c "CREATE DATABASE $1 OWNER $2"
	PGOPTIONS="-c client_min_messages=error" q -d "$1" >/dev/null <<'SQL'
CREATE TABLE users (id uuid PRIMARY KEY);
CREATE EXTENSION api_tokens;
INSERT INTO users VALUES ('00000000-0000-0000-0000-000000000001');
CREATE TABLE issued AS
  SELECT n, c.* FROM generate_series(1, 200) n,
       LATERAL api_token_create('00000000-0000-0000-0000-000000000001', 'token ' || n) c;
-- Tokens 101 to 200 rotated out: presenting them is a reuse.
SELECT count(*) FROM issued, LATERAL api_token_rotate(token_id) WHERE n > 100;
SQL
}
setup_db victim postgres
setup_db hostile dbowner
setup_db locked postgres
setup_db owned dbowner
PGOPTIONS="-c client_min_messages=error" q -c "CREATE EXTENSION api_tokens"

echo "== attack_fill_from_a_database_that_cannot_flush"
# 89 uses and 10 reuses: 99 of the 100 places, so that no early flush is
# asked for; then the owner forbids connections to the database.
pause_flush
expect "hostile: 89 uses" "valid|89" "$(validations hostile "SELECT token FROM issued WHERE n <= 89")"
expect "hostile: 10 reuses, in a READ ONLY transaction" "rotated|10" \
	"$(validations hostile "SELECT token FROM issued WHERE n > 190" "READ ONLY")"
expect "hostile holds 99 places" 99 "$(q -c "SELECT pending FROM api_tokens_last_use_state()")"
q -c "SET ROLE dbowner" -c "ALTER DATABASE hostile ALLOW_CONNECTIONS false"
resume_flush
expect "victim: 20 uses" "valid|20" "$(validations victim "SELECT token FROM issued WHERE n <= 20")"
expect "victim: a reuse, in a READ ONLY transaction" "rotated|1" \
	"$(validations victim "SELECT token FROM issued WHERE n = 150" "READ ONLY")"
wait_in "victim's uses are written" 5 victim "$(written victim 1 20)"
wait_in "victim's reuse is acted upon" 5 victim "$(reused 150)"
expect "hostile's uses and reuses given up for victim's are counted" t \
	"$(database_row hostile "dropped + reuses_dropped >= 20")"
expect "hostile's failure is reported" t \
	"$(database_row hostile "failures >= 1 AND last_error LIKE '%does not allow connections%'")"
expect "and the server's last error says so" t \
	"$(q -c "SELECT last_error LIKE '%does not allow connections%' FROM api_tokens_last_use_state()")"
sleep 3
expect "hostile's next attempt is put off" t "$(database_row hostile "retry_at > now()")"
expect "no flusher was started for it" 0 "$(grep -c 'database "hostile" is not currently accepting connections' "$(cluster_log main)" || true)"
q -c "ALTER DATABASE hostile ALLOW_CONNECTIONS true"
wait_in "once it allows connections, hostile's uses are written" 70 hostile \
	"SELECT count(*) >= 1 FROM api_tokens WHERE last_used_at IS NOT NULL"

echo "== attack_lock_pins_the_flusher"
pause_flush
expect "locked: 10 uses" "valid|10" "$(validations locked "SELECT token FROM issued WHERE n <= 10")"
q -d locked -c "BEGIN" -c "DROP INDEX ix_api_tokens_token_prefix" -c "SELECT pg_sleep(6)" -c "ROLLBACK" >/dev/null &
blocker=$!
sleep 0.5
resume_flush
expect "victim: 10 more uses" "valid|10" "$(validations victim "SELECT token FROM issued WHERE n BETWEEN 21 AND 30")"
wait_in "victim's uses are written while locked's table is locked" 4 victim "$(written victim 21 30)"
wait_in "locked's flusher gives up on the lock and says so" 4 postgres \
	"SELECT failures >= 1 AND last_error LIKE '%lock timeout%' FROM api_tokens_last_use_databases()
	  WHERE datid = (SELECT oid FROM pg_database WHERE datname = 'locked')"
expect "no flusher waits for the lock" 0 \
	"$(q -c "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'api_tokens flusher' AND wait_event_type = 'Lock'")"
wait "$blocker"
wait_in "locked's uses are written once the lock is gone" 20 locked "$(written locked 1 10)"

echo "== attack_worker_takes_owner_settings"
q -d owned -c "SET ROLE dbowner" \
	-c "ALTER DATABASE owned SET default_transaction_read_only = on" \
	-c "ALTER DATABASE owned SET exit_on_error = on" \
	-c "ALTER DATABASE owned SET statement_timeout = '1ms'" \
	-c "ALTER DATABASE owned SET api_tokens.actor = 'forged by the owner'"
# (The client's own session turns off what would end it.)
export CLIENT_OPTIONS="-c statement_timeout=0 -c exit_on_error=off"
expect "owned: 5 uses" "valid|5" "$(validations owned "SELECT token FROM issued WHERE n <= 5")"
expect "owned: a reuse (every transaction there is READ ONLY now)" "rotated|1" \
	"$(validations owned "SELECT token FROM issued WHERE n = 160")"
unset CLIENT_OPTIONS
export PGOPTIONS="-c statement_timeout=0"
wait_in "owned's uses are written" 5 owned "$(written owned 1 5)"
wait_in "owned's reuse is acted upon" 5 owned "$(reused 160)"
expect "the worker's event has no forged actor" t "$(q -d owned -c \
	"SELECT actor IS NULL FROM api_token_events e JOIN issued i ON i.token_id = e.token_id WHERE n = 160 AND event = 'reused'")"

unset PGOPTIONS

echo "== attack_serializable_reuse"
expect "victim: a reuse in a SERIALIZABLE transaction" "rotated|1" \
	"$(validations victim "SELECT token FROM issued WHERE n = 151" "ISOLATION LEVEL SERIALIZABLE")"
wait_in "the worker acts upon it" 5 victim "$(reused 151)"

echo "== attack_saved_infinite_use"
pause_flush
expect "victim: a use before the restart" "valid|1" "$(validations victim "SELECT token FROM issued WHERE n = 40")"
as_cluster_owner "$PGBIN/pg_ctl" -D "$(cluster_dir main)/data" -m fast -w stop >/dev/null
saved="$(cluster_dir main)/data/pg_stat/api_tokens_uses.dat"
[ -f "$saved" ] || fail "no saved uses"
# Every saved use moved to the end of time (INT64_MAX): loaded, it must be now.
python3 - "$saved" <<'PY'
import struct, sys
path = sys.argv[1]
data = bytearray(open(path, "rb").read())
magic, version, size, count = struct.unpack_from("<4I", data, 0)
assert count >= 1, count
for i in range(count):
    struct.pack_into("<q", data, 16 + i * size + 24, 2**63 - 1)
open(path, "wb").write(data)
PY
cluster_start main
resume_flush
wait_in "the use is written, as now" 5 victim "SELECT last_used_at <= now() AND last_used_at > now() - interval '1 minute'
	FROM api_tokens a JOIN issued i ON i.token_id = a.id WHERE n = 40"
# A file of another version is ignored, with a line in the log.
pause_flush
expect "victim: a use before the next restart" "valid|1" "$(validations victim "SELECT token FROM issued WHERE n = 41")"
as_cluster_owner "$PGBIN/pg_ctl" -D "$(cluster_dir main)/data" -m fast -w stop >/dev/null
python3 -c "
import struct, sys
data = bytearray(open(sys.argv[1], 'rb').read())
struct.pack_into('<I', data, 4, 1)
open(sys.argv[1], 'wb').write(data)" "$saved"
cluster_start main
expect "nothing loaded from it" 0 "$(q -c "SELECT pending FROM api_tokens_last_use_state()")"
grep -q 'ignoring ".*api_tokens_uses.dat": not a file of this version' "$(cluster_log main)" ||
	fail "the ignored file is not in the log"
echo "ok: a file of another version is ignored, and logged"
resume_flush

cluster_assert_no_crash main
echo "shared_attacks: all checks passed"
