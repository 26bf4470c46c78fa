#!/usr/bin/env bash
# versions: 15 17 18
# Rate limits and credits counted in shared memory (shared_preload_libraries
# = 'api_tokens'): pgbench clients spending one token's credits get exactly
# as many valid answers as there were credits, and the flusher writes the
# balance within seconds; a rate limit is exact across clients within one
# window, retry_after counting to the window's end; refills reset the
# balance; a clean restart keeps a balance not yet written; an immediate
# shutdown or a crash loses at most what was spent since the last write and
# never gives more than was set; a full shared table refuses (rate_limited,
# retry_after 1, counted) instead of letting tokens through; a token's row
# is read where the shared table last found it, checked, and found again
# when it moved (a direct write, a new file, a truncated table); on a hot
# standby spending is refused (25006), a cost of 0 reads, and rates are
# counted per node.  No token or hash reaches a server log.  (The isolation
# specs: test/specs/credits_spenders.spec without preloading,
# test/preloaded/specs/limits_preloaded.spec with it.)
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/lib/cluster.sh
. test/lib/checks.sh
. test/lib/standby.sh

on_failure() {
	for node in $CLUSTER_NAMES; do
		echo "-- the $node server's log, last lines:"
		tail -n 30 "$(cluster_log "$node")" || true
	done
}
q() { psql_on main "$@"; }
id_of() { echo "(SELECT token_id FROM issued WHERE n = $1)"; }
token_of() { echo "(SELECT token FROM issued WHERE n = $1)"; }
# verify N [COST] [NODE]: status|retry_after|credits_remaining of token N
verify() {
	psql_on "${3:-main}" -c "SELECT status, retry_after, credits_remaining
	                          FROM api_token_verify($(token_of "$1"), NULL, NULL, ${2:-1})"
}
# spend N TIMES [NODE]: TIMES verifications of token N (cost 1) in one
# session, their answers joined by spaces
spend() {
	for _ in $(seq "$2"); do
		echo "SELECT status, retry_after, credits_remaining FROM api_token_verify($(token_of "$1"));"
	done | psql_on "${3:-main}" | paste -sd' '
}
credits_row() { q -c "SELECT credits FROM api_token_limits WHERE token_id = $(id_of "$1")"; }
state() { q -c "SELECT $1 FROM api_tokens_limit_state()"; }
# Flushing paused (a long interval) or every second; a reload wakes the
# launcher for one round, which the pause waits out.
set_interval() {
	q -c "ALTER SYSTEM SET api_tokens.flush_interval = '$1'" -c "SELECT pg_reload_conf()" >/dev/null
}
pause_flush() { set_interval 3600; sleep 1.5; }
resume_flush() { set_interval 1; }
restart_main() { # restart_main MODE: stop (fast or immediate), then start
	as_cluster_owner "$PGBIN/pg_ctl" -D "$(cluster_dir main)/data" -m "$1" -w stop >/dev/null
	cluster_start main
}
# bench N CLIENTS TRANSACTIONS: pgbench clients verifying token N (cost 1),
# each answer kept in outcomes.
bench() {
	local file="$CLUSTER_ROOT/bench_$1.sql"
	echo "INSERT INTO outcomes (n, status, retry_after)
	      SELECT $1, status, retry_after FROM api_token_verify($(token_of "$1"));" >"$file"
	(cluster_env main && "$PGBIN/pgbench" -n -c "$2" -j 2 -t "$3" -f "$file" >/dev/null)
}
outcomes_of() { # outcomes_of N: "status=count ..." of token N's pgbench answers
	q -c "SELECT string_agg(status || '=' || c, ' ' ORDER BY status)
	        FROM (SELECT status, count(*) c FROM outcomes WHERE n = $1 GROUP BY status) s"
}

cluster_init main
cluster_configure main "$primary_settings
shared_preload_libraries = 'api_tokens'
api_tokens.flush_interval = 1
api_tokens.max_limited_tokens = 100
"
cluster_start main
q >/dev/null <<'SQL'
CREATE TABLE users (id uuid PRIMARY KEY);
CREATE EXTENSION api_tokens;
INSERT INTO users VALUES ('00000000-0000-0000-0000-000000000001');
CREATE TABLE issued AS
  SELECT n, c.* FROM generate_series(1, 160) n,
       LATERAL api_token_create('00000000-0000-0000-0000-000000000001', 'token ' || n) c;
CREATE TABLE outcomes (n int, status text, retry_after int, at timestamptz DEFAULT clock_timestamp());
SQL
expect "state: preloaded, capacity 100, nothing tracked" "t|100|0" "$(state "preloaded, capacity, tracked")"

# Credits: 8 pgbench clients, 160 verifications of a token with 50 credits.
q -c "SELECT api_token_set_credits($(id_of 1), 50)" >/dev/null
bench 1 8 20
expect "exactly 50 valid of 160 verifications" "usage_exceeded=110 valid=50" "$(outcomes_of 1)"
expect "usage_exceeded without refill: no retry_after" 0 \
	"$(q -c "SELECT count(*) FROM outcomes WHERE n = 1 AND retry_after IS NOT NULL")"
wait_for "the spent balance is written to the row" 5 main \
	"SELECT credits = 0 FROM api_token_limits WHERE token_id = $(id_of 1)"
wait_for "nothing left unwritten" 5 main "SELECT credits_unwritten = 0 FROM api_tokens_limit_state()"

# Rate limit: 30 per window, 160 verifications by 8 clients.  A window of
# 360 days (aligned on multiples of its length since 2000-01-01) cannot end
# during the test; retry_after is the seconds left in it, rounded up.
q -c "SELECT api_token_set_rate_limit($(id_of 2), 30, '360 days')" >/dev/null
bench 2 8 20
expect "exactly 30 valid within one window" "rate_limited=130 valid=30" "$(outcomes_of 2)"
expect "retry_after: the seconds to the window's end" 0 "$(q -c "
	SELECT count(*) FROM (
	  SELECT retry_after,
	         360 * 86400 - mod(extract(epoch FROM at - timestamptz '2000-01-01 00:00:00+00'), 360 * 86400) AS left_s
	    FROM outcomes WHERE n = 2 AND status = 'rate_limited') r
	 WHERE NOT retry_after BETWEEN ceil(left_s) AND ceil(left_s) + 1")"
# An hour-long window: the next answer waits for the end of the hour.
left=$(q -c "SELECT 3600 - floor(extract(epoch FROM clock_timestamp()))::bigint % 3600")
[ "$left" -gt 5 ] || sleep $((left + 1))
q -c "SELECT api_token_set_rate_limit($(id_of 3), 1, '1 hour')" >/dev/null
expect "one request per hour" valid "$(verify 3 | cut -d'|' -f1)"
expect "the second is rate limited until the hour ends" "rate_limited|t" "$(q -c "
	SELECT status, retry_after BETWEEN ceil(left_s) AND ceil(left_s) + 1
	  FROM api_token_verify($(token_of 3)) v,
	       LATERAL (SELECT 3600 - mod(extract(epoch FROM clock_timestamp()), 3600) AS left_s) l")"

# Refill: each elapsed refill_every resets the balance to refill (not more).
# In real time, reading only (a cost of 0), so that no refill can come
# between two spends:
q -c "SELECT api_token_set_credits($(id_of 6), 0, 2, '1 second')" >/dev/null
expect "none left before the first refill, retry after 1 s" "usage_exceeded|1|0" "$(verify 6)"
sleep 2.2
expect "two refills later: 2 (reset, not added)" "valid||2" "$(verify 6 0)"
# The row hint: the shared table remembers where a limited token's
# api_token_limits row is (the root of its HOT chain) and reads it there,
# without probing the index; what it finds there is checked, never trusted.
hinted="11 12 13 14"
at() { # at N ADDRESS: the status of token N verified from ADDRESS (cost 0)
	q -c "SELECT status FROM api_token_verify($(token_of "$1"), NULL, '$2', 0)"
}
set_hinted() { # each token n may be used from 10.0.0.n only, with credits
	for n in $hinted; do
		q -c "SELECT api_token_set_credits($(id_of "$n"), 100)" \
			-c "SELECT api_token_set_allowed_addresses($(id_of "$n"), '{10.0.0.$n/32}')" >/dev/null
	done
}
own_limits() { # own_limits WHAT: every hinted token has its own allowlist
	for n in $hinted; do
		expect "$1: token $n from its own address" valid "$(at "$n" "10.0.0.$n")"
		expect "$1: token $n from another token's address" address_denied "$(at "$n" "10.0.0.$((n % 14 + 11))")"
	done
}
pause_flush
set_hinted
own_limits "first use"
index_scans() { # index_scans N ADDRESS: 5 verifications of token N, then the index scans they made
	q <<SQL | paste -sd' '
BEGIN;
$(for _ in 1 2 3 4 5; do echo "SELECT status FROM api_token_verify($(token_of "$1"), NULL, '$2', 0);"; done)
SELECT pg_stat_get_xact_numscans('api_token_limits_pkey'::regclass);
COMMIT;
SQL
}
expect "hinted: five verifications, no index scan of api_token_limits" "valid valid valid valid valid 0" \
	"$(index_scans 11 10.0.0.11)"
# Only an allowlist: no entry in the shared table, so no hint; the index is probed.
q -c "SELECT api_token_set_allowed_addresses($(id_of 15), '{10.0.0.15/32}')" >/dev/null
expect "no hint (only an allowlist): five index scans" "valid valid valid valid valid 5" \
	"$(index_scans 15 10.0.0.15)"
# attack_stale_limits_after_write: a direct UPDATE of the row (a new version
# in the same HOT chain, or elsewhere) is seen at once.
q -c "UPDATE api_token_limits SET allowed_addresses = '{10.0.0.99/32}' WHERE token_id = $(id_of 11)" >/dev/null
expect "after a direct write: the old address refused" address_denied "$(at 11 10.0.0.11)"
expect "after a direct write: the new address valid" valid "$(at 11 10.0.0.99)"
set_hinted
# attack_reused_limits_slot: the hinted row deleted and its slot, in the
# same page (the buffer the hint remembers), taken by another token's row
# that allows every address; the token's own row, set again, is elsewhere.
# Inserts fill pages up to 100% here, so that they reuse freed slots.
q -c "ALTER TABLE api_token_limits SET (fillfactor = 100)" \
	-c "DELETE FROM api_token_limits WHERE token_id = $(id_of 11)" -c "VACUUM api_token_limits" >/dev/null
q -c "SELECT api_token_set_credits($(id_of 11), 100)" >/dev/null
root=$(q -c "SELECT ctid FROM api_token_limits WHERE token_id = $(id_of 11)")
q -c "SELECT api_token_set_allowed_addresses($(id_of 11), '{10.0.0.11/32}')" >/dev/null
expect "hinted at the slot it was inserted in" "valid valid valid valid valid 0" \
	"$(index_scans 11 10.0.0.11)"
q >/dev/null <<SQL
DELETE FROM api_token_limits WHERE token_id = $(id_of 11);
VACUUM (INDEX_CLEANUP on) api_token_limits;
DO \$\$BEGIN
  FOR i IN 1..200 LOOP
    INSERT INTO api_token_limits (token_id, allowed_addresses)
      VALUES (gen_random_uuid(), '{0.0.0.0/0}');
    EXIT WHEN EXISTS (SELECT FROM api_token_limits WHERE ctid = '$root');
  END LOOP;
END\$\$;
SQL
expect "another token's row took the hinted slot" "{0.0.0.0/0}" \
	"$(q -c "SELECT allowed_addresses FROM api_token_limits WHERE ctid = '$root'")"
set_hinted
expect "the slot's row is not taken for the token's own" address_denied "$(at 11 10.0.0.12)"
own_limits "after the slot was reused"
q -c "DELETE FROM api_token_limits WHERE allowed_addresses = '{0.0.0.0/0}'" \
	-c "ALTER TABLE api_token_limits RESET (fillfactor)" >/dev/null
# attack_borrowed_limits_row: the rows move to a new file whose first page
# holds other tokens' rows with a looser allowlist: each hint now points at
# another token's row, which must not be taken for the token's own.
expect "before the move, the table is one page (every hint on page 0)" 8192 \
	"$(q -c "SELECT pg_relation_size('api_token_limits')")"
q >/dev/null <<'SQL'
CREATE TABLE moved AS SELECT * FROM api_token_limits;
TRUNCATE api_token_limits;
INSERT INTO api_token_limits (token_id, allowed_addresses)
  SELECT gen_random_uuid(), '{10.0.0.0/8}' FROM generate_series(1, 1000);
INSERT INTO api_token_limits SELECT * FROM moved;
SQL
own_limits "rows moved under the hints"
# attack_hint_beyond_end: VACUUM truncates the table below the hinted pages.
expect "the moved rows are past page 3" t \
	"$(q -c "SELECT bool_and((ctid::text::point)[0] >= 3) FROM api_token_limits WHERE token_id IN (SELECT token_id FROM moved)")"
q -c "DELETE FROM api_token_limits" -c "VACUUM api_token_limits" >/dev/null
expect "vacuum truncated the table" 0 "$(q -c "SELECT pg_relation_size('api_token_limits')")"
expect "no row: token 11 has no limits left" valid "$(at 11 192.0.2.1)"
set_hinted
expect "set again: one page, below the hinted ones" 8192 "$(q -c "SELECT pg_relation_size('api_token_limits')")"
own_limits "rows set again below the hints"
q -c "DELETE FROM api_token_limits WHERE token_id IN (SELECT token_id FROM issued WHERE n BETWEEN 11 AND 15)" -c "DROP TABLE moved" >/dev/null
resume_flush

# A clean restart keeps a balance the flusher has not written.
q -c "SELECT api_token_set_credits($(id_of 4), 10)" >/dev/null
wait_for "nothing left unwritten before the restart" 5 main \
	"SELECT credits_unwritten = 0 FROM api_tokens_limit_state()"
pause_flush
expect "spent: 9, 8, 7 left" "valid||9 valid||8 valid||7" "$(spend 4 3)"
expect "not written yet" "10|1" "$(credits_row 4)|$(state credits_unwritten)"
restart_main fast
expect "the unwritten balance survived the clean restart" "valid||7" "$(verify 4 0)"
expect "still not written" 10 "$(credits_row 4)"
resume_flush
wait_for "written after the restart" 5 main "SELECT credits = 7 FROM api_token_limits WHERE token_id = $(id_of 4)"

# An immediate shutdown loses what was spent since the last write: the token
# has that much more, never more than was set.
q -c "SELECT api_token_set_credits($(id_of 5), 10)" >/dev/null
expect "spent before the last write: 9, 8 left" "valid||9 valid||8" "$(spend 5 2)"
wait_for "8 written" 5 main "SELECT credits = 8 FROM api_token_limits WHERE token_id = $(id_of 5)"
pause_flush
expect "spent after the last write: 7, 6, 5 left" "valid||7 valid||6 valid||5" "$(spend 5 3)"
restart_main immediate
expect "after the immediate shutdown: the written balance (3 spent lost, 8 <= 10)" "valid||8" "$(verify 5 0)"
expect "nothing unwritten after it" 0 "$(state credits_unwritten)"
# A crash of a backend: shared memory is reset, the same holds.
resume_flush
q -c "SELECT api_token_set_credits($(id_of 9), 10)" >/dev/null
expect "spent before the last write" "valid||9" "$(verify 9)"
wait_for "9 written" 5 main "SELECT credits = 9 FROM api_token_limits WHERE token_id = $(id_of 9)"
pause_flush
expect "spent after the last write" "valid||8" "$(verify 9)"
kill -9 "$(q -c "SELECT pid FROM pg_stat_activity WHERE backend_type = 'api_tokens launcher'")"
wait_for "the server is back after the crash" 30 main "SELECT preloaded FROM api_tokens_limit_state()"
expect "after the crash: the written balance" "valid||9" "$(verify 9 0)"
resume_flush

# A full shared table (100 tokens): tokens that find no room are refused,
# rate_limited with retry_after 1, and counted; with the flusher paused no
# entry can be swept out to make room.
q -c "SELECT count(api_token_set_credits(token_id, 5)) FROM issued WHERE n BETWEEN 11 AND 160" >/dev/null
wait_for "nothing left unwritten before the test" 5 main \
	"SELECT credits_unwritten = 0 FROM api_tokens_limit_state()"
pause_flush
refused_before=$(state refused)
for n in $(seq 11 160); do
	echo "INSERT INTO outcomes (n, status, retry_after)
	      SELECT $n, status, retry_after FROM api_token_verify($(token_of "$n"));"
done | q
counts=$(q -c "SELECT count(*) FILTER (WHERE status = 'valid'), count(*) FILTER (WHERE status = 'rate_limited'),
                      count(*) FILTER (WHERE status = 'rate_limited' AND retry_after = 1), count(*)
                 FROM outcomes WHERE n BETWEEN 11 AND 160")
IFS='|' read -r valid limited limited_1s total <<<"$counts"
# Every entry from before is written and has no running window (the crash
# above emptied the table): a sweep frees them all, and exactly 100 get in.
expect "150 verifications: 100 valid, 50 refused" "150|100|50" "$total|$valid|$limited"
expect "every refusal says retry after 1 s" "$limited" "$limited_1s"
expect "refusals counted by api_tokens_limit_state" "$limited" "$(($(state refused) - refused_before))"
expect "the table is full" 100 "$(state tracked)"
refused_n=$(q -c "SELECT max(n) FROM outcomes WHERE n BETWEEN 11 AND 160 AND status = 'rate_limited'")
resume_flush
wait_for "spent credits written, entries evictable" 5 main \
	"SELECT credits_unwritten = 0 FROM api_tokens_limit_state()"
sleep 0.2 # one sweep interval (100 ms)
expect "once written, a refused token finds room" "valid||4" "$(verify "$refused_n")"

# A hot standby: spending is refused (25006), a cost of 0 reads the row's
# balance, and the rate is counted by each node for itself.
q -c "SELECT api_token_set_credits($(id_of 8), 5)" -c "SELECT api_token_set_rate_limit($(id_of 7), 3, '360 days')" >/dev/null
# The standby forwards the uses it sees as a role that may record them only.
q -c "CREATE ROLE forwarder LOGIN" \
	-c "GRANT EXECUTE ON FUNCTION api_tokens_record_uses(uuid[], timestamptz[]) TO forwarder" >/dev/null
standby_create main standby \
	"api_tokens.forward_conninfo = 'host=$(cluster_dir main)/socket port=$(cluster_port main) user=forwarder'"
wait_for_replay main standby
expect "standby is in recovery" t "$(psql_on standby -c "SELECT pg_is_in_recovery()")"
sqlstate_on_standby() {
	psql_on standby -c '\set VERBOSITY sqlstate' -c "$1" 2>&1 || true
}
expect "api_token_verify spending on the standby: 25006" "ERROR:  25006" \
	"$(sqlstate_on_standby "SELECT status FROM api_token_verify($(token_of 8))")"
expect "api_token_validate (cost 1) on the standby: 25006" "ERROR:  25006" \
	"$(sqlstate_on_standby "SELECT status FROM api_token_validate($(token_of 8))")"
expect "a cost of 0 reads the balance on the standby" "valid||5" "$(verify 8 0 standby)"
for node in main standby; do
	expect "$node: 3 requests, then rate limited" "valid valid valid rate_limited" \
		"$(spend 7 4 "$node" | sed 's/|[^ ]*//g')"
done

# No token or hash in either server's log.
for node in main standby; do
	log=$(cluster_log "$node")
	q -c "SELECT token FROM issued" | grep -qFf - "$log" && fail "a token in the $node server's log"
	q -c "SELECT token_hash FROM api_tokens" | grep -qFf - "$log" && fail "a token hash in the $node server's log"
done
echo "ok: no token or hash in the server logs"
grep -E "api_tokens (flusher|could)" "$(cluster_log main)" "$(cluster_log standby)" &&
	fail "a worker logged an error"
echo "ok: the workers logged no error"

# Refills counted in shared memory and not written yet: spending, with
# refills of an hour and the last one 2.5 hours ago: two elapsed (3, not 6),
# the next one in 30 minutes, which retry_after says although the row still
# holds the old refill time (the flusher paused).
q -c "SELECT api_token_set_credits($(id_of 10), 0, 3, '1 hour')" \
	-c "UPDATE api_token_limits SET credits_refilled_at = credits_refilled_at - interval '150 min'
	     WHERE token_id = $(id_of 10)" >/dev/null
pause_flush
expect "spent after the refills: 2, 1, 0 left" "valid||2 valid||1 valid||0" "$(spend 10 3)"
IFS='|' read -r status retry left <<<"$(verify 10)"
expect "then exceeded, retry after the next refill (1790 to 1800 s; got $retry)" "usage_exceeded|t|0" \
	"$status|$([ "${retry:-0}" -ge 1790 ] && [ "${retry:-0}" -le 1800 ] && echo t || echo f)|$left"
resume_flush
wait_for "the balance and the refill time written" 5 main "
	SELECT credits = 0 AND credits_refilled_at BETWEEN now() - interval '31 min' AND now() - interval '29 min'
	  FROM api_token_limits WHERE token_id = $(id_of 10)"
# docs/limits.md's rate-limit example, on this preloaded server, in a
# database set up as the page's own setup does.
q -c "CREATE DATABASE doc" >/dev/null
psql_on main -d doc -v ON_ERROR_STOP=1 -At -c "SET client_min_messages = warning" \
	-c "CREATE TABLE public.users (id uuid PRIMARY KEY)" -c "CREATE SCHEMA api_tokens" \
	-c "SET api_tokens.users_table = 'public.users'" -c "CREATE EXTENSION api_tokens SCHEMA api_tokens" >/dev/null
doc_user=$(psql_on main -d doc -At -c "INSERT INTO public.users VALUES (gen_random_uuid()) RETURNING id")
doc_out=$(psql_on main -d doc -v ON_ERROR_STOP=1 -At -v user_id="$doc_user" \
	<<<"$(/usr/bin/python3 test/lib/doc_blocks.py extract docs/limits.md rate-limit)")
expect "docs/limits.md's rate-limit example" "$(printf 'valid|\nvalid|\nrate_limited|t')" \
	"$(grep -v '^$' <<<"$doc_out")"
echo "limits_shared: all checks passed"
