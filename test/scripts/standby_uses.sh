#!/usr/bin/env bash
# Uses seen on a hot standby reach last_used_at on the primary: the
# standby's worker forwards them over libpq (api_tokens.forward_conninfo,
# a role with EXECUTE on api_tokens_record_uses and nothing else).  Without
# that privilege, and while the primary is down, the standby keeps
# validating and keeps its uses (bounded), logs the failure without any
# token or hash, and delivers them once it can.
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/lib/cluster.sh
. test/lib/checks.sh
. test/lib/standby.sh

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
