#!/usr/bin/env bash
# versions: 15 17 18
# Uses seen on a hot standby reach last_used_at on the primary: the
# standby's worker forwards them over libpq (api_tokens.forward_conninfo,
# a role with EXECUTE on api_tokens_record_uses and nothing else).  Without
# that privilege, and while the primary is down, the standby keeps
# validating and keeps its uses (bounded), logs the failure without any
# token or hash, and delivers them once it can; a primary that stops
# answering is given up after api_tokens.forward_timeout, and does not hold
# up the standby's shutdown.
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/lib/cluster.sh
. test/lib/checks.sh
. test/lib/standby.sh
. test/lib/packages.sh
ensure_packages python3-minimal # test/lib/stall_proxy.py

on_failure() {
	for node in primary standby; do
		echo "-- the $node's log, last lines:"
		tail -n 25 "$(cluster_log $node)" || true
	done
}
use_on() { # use_on NODE N: validates token N with every use due; prints its status
	PGOPTIONS="-c api_tokens.last_used_interval=0" psql_on "$1" \
		-c "SELECT status FROM api_token_validate((SELECT token FROM issued WHERE n = $2))"
}
written() { # written N: on the primary, last_used_at of token N is set
	echo "SELECT last_used_at IS NOT NULL FROM api_tokens a JOIN issued i ON i.token_id = a.id WHERE n = $1"
}

cluster_init primary
cluster_configure primary "$primary_settings
shared_preload_libraries = 'api_tokens'
api_tokens.flush_interval = 1
"
cluster_start primary
psql_on primary >/dev/null <<'SQL'
CREATE TABLE users (id uuid PRIMARY KEY);
CREATE EXTENSION api_tokens;
INSERT INTO users VALUES ('00000000-0000-0000-0000-000000000001');
CREATE TABLE issued AS
  SELECT n, c.* FROM generate_series(1, 10) n,
       LATERAL api_token_create('00000000-0000-0000-0000-000000000001', 'token ' || n) c;
-- The standby forwards as this role: it may record uses, nothing else.
CREATE ROLE forwarder LOGIN;
SQL

standby_create primary standby \
	"api_tokens.forward_conninfo = 'host=$(cluster_dir primary)/socket port=$(cluster_port primary) user=forwarder'"
expect "standby is in recovery" t "$(psql_on standby -c "SELECT pg_is_in_recovery()")"
expect "the launcher runs on the standby" 1 \
	"$(psql_on standby -c "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'api_tokens launcher'")"

# No EXECUTE yet: the forward fails, the use is kept, the standby validates on.
expect "valid on the standby" valid "$(use_on standby 1)"
wait_for "the refusal is reported by the state function" 5 standby \
	"SELECT last_error LIKE '%permission denied%' AND pending = 1 FROM api_tokens_last_use_state()"
expect "not written on the primary" f "$(psql_on primary -c "$(written 1)")"

# Granted: delivered.
psql_on primary -c "GRANT EXECUTE ON FUNCTION api_tokens_record_uses(uuid[], timestamptz[]) TO forwarder"
wait_for "use on the standby written on the primary" 5 primary "$(written 1)"
wait_for "standby: forwarded, nothing pending" 3 standby \
	"SELECT forwarded >= 1 AND pending = 0 FROM api_tokens_last_use_state()"
expect "primary: received from the standby" t \
	"$(psql_on primary -c "SELECT received >= 1 FROM api_tokens_last_use_state()")"
expect "the standby's use time is the one written" t "$(psql_on primary -c \
	"SELECT last_used_at > now() - interval '1 minute' FROM api_tokens a JOIN issued i ON i.token_id = a.id WHERE n = 1")"

# Uses in READ ONLY transactions on the standby: all forwarded.
for n in 2 3 4; do expect "valid on the standby ($n)" valid "$(use_on standby $n)"; done
wait_for "three uses on the standby written on the primary" 5 primary \
	"SELECT count(*) = 3 FROM api_tokens a JOIN issued i ON i.token_id = a.id WHERE n IN (2, 3, 4) AND last_used_at IS NOT NULL"

# The primary down: the standby validates on and keeps what it recorded.
as_cluster_owner "$PGBIN/pg_ctl" -D "$(cluster_dir primary)/data" -m fast -w stop >/dev/null
for n in 5 6; do expect "valid on the standby while the primary is down ($n)" valid "$(use_on standby $n)"; done
wait_for "the failure is reported, the uses kept" 15 standby \
	"SELECT last_error_at > now() - interval '10 s' AND pending = 2 FROM api_tokens_last_use_state()"
cluster_start primary
wait_for "the kept uses are written once the primary is back" 20 primary \
	"SELECT count(*) = 2 FROM api_tokens a JOIN issued i ON i.token_id = a.id WHERE n IN (5, 6) AND last_used_at IS NOT NULL"
wait_for "nothing pending on the standby" 5 standby "SELECT pending = 0 FROM api_tokens_last_use_state()"

# The primary stops answering in the middle of a call (a network partition,
# a frozen host: TCP would notice only after hours).  Through a proxy that
# holds every answer after the startup: the call gives up after
# api_tokens.forward_timeout, the uses are kept, and a fast shutdown of the
# standby does not wait for a stalled call.
proxy=$(cluster_dir standby)/proxy
mkdir -p "$proxy" && chmod 755 "$proxy"
echo stall_after_ready >"$proxy/mode"
/usr/bin/python3 test/lib/stall_proxy.py "$proxy/.s.PGSQL.5432" \
	"$(cluster_dir primary)/socket/.s.PGSQL.$(cluster_port primary)" "$proxy/mode" &
proxy_pid=$!
trap 'kill $proxy_pid 2>/dev/null || true; cluster_cleanup' EXIT
psql_on standby >/dev/null <<SQL
ALTER SYSTEM SET api_tokens.forward_conninfo =
  'host=$proxy port=5432 user=forwarder sslmode=disable gssencmode=disable';
ALTER SYSTEM SET api_tokens.forward_timeout = '2s';
SELECT pg_reload_conf();
SQL
expect "valid on the standby while the primary stalls (7)" valid "$(use_on standby 7)"
wait_for "the stalled call gives up, the use is kept" 15 standby \
	"SELECT last_error LIKE '%timed out%' AND pending = 1 FROM api_tokens_last_use_state()"
[ -e "$proxy/mode.stalled" ] || fail "the proxy never held an answer"
psql_on standby -c "ALTER SYSTEM SET api_tokens.forward_timeout = '10min'" -c "SELECT pg_reload_conf()" >/dev/null
rm -f "$proxy/mode.stalled"
expect "valid on the standby while the primary stalls (8)" valid "$(use_on standby 8)"
for _ in $(seq 100); do [ -e "$proxy/mode.stalled" ] && break; sleep 0.1; done
[ -e "$proxy/mode.stalled" ] || fail "no call reached the stalled primary"
sleep 0.5
start=$SECONDS
as_cluster_owner "$PGBIN/pg_ctl" -D "$(cluster_dir standby)/data" -m fast -w -t 60 stop >/dev/null
expect "a fast shutdown does not wait for the stalled call" t "$([ $((SECONDS - start)) -lt 10 ] && echo t || echo f)"
echo pass >"$proxy/mode"
cluster_start standby
# (The primary may have run the stalled calls; sending the uses again is harmless.)
wait_for "the uses kept through the stall and the restart are delivered" 20 standby \
	"SELECT pending = 0 AND forwarded >= 2 FROM api_tokens_last_use_state()"
wait_for "and written" 10 primary \
	"SELECT count(*) = 2 FROM api_tokens a JOIN issued i ON i.token_id = a.id WHERE n IN (7, 8) AND last_used_at IS NOT NULL"
# One that accepts connections and never completes one: the same.
echo stall >"$proxy/mode"
psql_on standby -c "ALTER SYSTEM SET api_tokens.forward_timeout = '2s'" -c "SELECT pg_reload_conf()" >/dev/null
expect "valid on the standby while the primary stalls (9)" valid "$(use_on standby 9)"
wait_for "the stalled connection gives up, the use is kept" 15 standby \
	"SELECT last_error LIKE '%timed out connecting%' AND pending = 1 FROM api_tokens_last_use_state()"
echo pass >"$proxy/mode"
wait_for "the use is written once the primary answers" 15 primary "$(written 9)"
kill $proxy_pid

# Nothing secret in either log: no token, no hash; errors name no token.
for node in primary standby; do
	log=$(cluster_log $node)
	for n in $(seq 1 10); do
		t=$(psql_on primary -c "SELECT token FROM issued WHERE n = $n")
		h=$(psql_on primary -c "SELECT token_hash FROM api_tokens a JOIN issued i ON i.token_id = a.id WHERE n = $n")
		grep -qF "$t" "$log" && fail "a token in the $node's log"
		grep -qF "$h" "$log" && fail "a token hash in the $node's log"
	done
done
echo "ok: no token or hash in either log"
grep -q "api_tokens could not" "$(cluster_log standby)" || fail "the standby logged no forwarding failure"
echo "ok: the standby logged its forwarding failures"
cluster_assert_no_crash primary
cluster_assert_no_crash standby
echo "standby_uses: all checks passed"
