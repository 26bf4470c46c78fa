#!/usr/bin/env bash
# api_token_validate benchmark: builds the fixtures on throwaway clusters,
# runs every variant interleaved for ROUNDS rounds and prints one table of
# median tps and of ratios computed within each round.
#
# Two servers run side by side: "bench" preloads the library
# (shared_preload_libraries = 'api_tokens': last uses go to shared memory
# and the background worker writes them; rate windows and credits are
# counted there too), "inline" does not (last uses are
# written by the validating transaction, as without preloading).  Both hold
# the same 100,000-token fixture; "bench" also the 1,000,000-token one.
#
#   bench/run.sh                       ROUNDS=5 DURATION=10 CLIENTS=8
#   BENCH_QUICK=1 bench/run.sh         small fixture, short runs: checks the script
#   BENCH_STRICT=1 bench/run.sh        exit 1 if a target is missed
#   VARIANTS="probe validate" bench/run.sh   only some variants (targets whose
#                                      variants did not run are skipped)
#   BENCH_PG=18 bench/run.sh           on PostgreSQL 17 or 18, in its Debian chroot
#                                      (test/lib/chroot.sh), with this tree built there
set -euo pipefail
cd "$(dirname "$0")/.."
. test/lib/packages.sh
if [ -n "${BENCH_PG:-}" ] && [ "$BENCH_PG" != 15 ] && [ -z "${BENCH_IN_CHROOT:-}" ]; then
	. test/lib/chroot.sh
	chroot_ensure "$BENCH_PG" python3
	dir=$(chroot_dir "$BENCH_PG")
	rm -rf "$dir/build" && mkdir -p "$dir/build/api_tokens"
	git ls-files -co --exclude-standard -z | grep -zv '^examples/' |
		tar --null -cf - -T - | tar -xf - -C "$dir/build/api_tokens"
	export BENCH_IN_CHROOT=1
	# shellcheck disable=SC2016 # expanded by the shell in the chroot
	CHROOT_PASSTHROUGH_VARS="BENCH_PG BENCH_IN_CHROOT BENCH_QUICK BENCH_STRICT ROUNDS DURATION CLIENTS VARIANTS" \
		chroot_run "$BENCH_PG" bash -c 'cd /build/api_tokens && . test/lib/packages.sh &&
			. test/lib/build.sh && build_and_install "$BENCH_PG" >/dev/null && exec bench/run.sh'
	exit
fi
if [ -n "${BENCH_IN_CHROOT:-}" ]; then
	export PG_CONFIG=/usr/lib/postgresql/$BENCH_PG/bin/pg_config
else
	ensure_host_postgres
fi
. test/lib/cluster.sh

ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-10}
CLIENTS=${CLIENTS:-8}
SMALL=100000
LARGE=1000000
USERS=10000
if [ -n "${BENCH_QUICK:-}" ]; then
	ROUNDS=2 DURATION=2 SMALL=2000 LARGE=20000 USERS=200
fi
# The fixture marks every token used when it is built, and the read-path
# variants run with an interval longer than the whole benchmark: no token is
# ever due for a last_used_at write on the read path.
LONG_INTERVAL=86400

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "server:  $("$PGBIN/postgres" --version)"
echo "runs:    $ROUNDS rounds x $DURATION s per variant, $CLIENTS clients, pgbench -M prepared"

# Huge pages for shared memory, as recommended for large shared_buffers:
# without them every new backend page-faults its way through the buffers it
# touches, and at 1,000,000 tokens a 10-second run measures mostly that
# (measured: 8,000 tps rising to 23,000 over 30 s; with huge pages 35,000 at once).
# 1 GB for bench and 256 MB for inline, in 2 MB pages, and some room.
huge=off
old_hugepages=$(cat /proc/sys/vm/nr_hugepages)
if [ "$(id -u)" = 0 ] && [ "$old_hugepages" -lt 800 ] && sysctl -q -w vm.nr_hugepages=800 2>/dev/null &&
	[ "$(cat /proc/sys/vm/nr_hugepages)" -ge 800 ]; then
	huge=on
	trap 'sysctl -q -w vm.nr_hugepages='"$old_hugepages"'; cluster_cleanup' EXIT
elif [ "$old_hugepages" -ge 800 ]; then
	huge=on
fi
echo "huge pages: $huge"

# Durable commits, as in production: the write variants pay for WAL flushes.
for cluster in bench:1GB inline:256MB; do
	cluster_init "${cluster%%:*}"
	cluster_configure "${cluster%%:*}" "
fsync = on
synchronous_commit = on
shared_buffers = ${cluster##*:}
huge_pages = $huge
max_connections = 50
autovacuum_naptime = 10s
"
done
cluster_configure bench "shared_preload_libraries = 'api_tokens'
api_tokens.max_limited_tokens = $((2 * SMALL))"
cluster_start bench
cluster_start inline
echo "bench:   shared_preload_libraries = 'api_tokens', api_tokens.flush_interval = 10s (the default)"
echo "inline:  not preloaded (last_used_at written by the validating transaction)"
psql=(psql -X -q -v ON_ERROR_STOP=1)
# on CLUSTER COMMAND...: a command with libpq pointed at the cluster.
on() { (cluster_env "$1" && shift && "$@"); }

echo "building fixtures: $SMALL and $LARGE tokens for $USERS users ..."
cluster_env bench
for db in small:$SMALL large:$LARGE inline/small:$SMALL; do
	name=${db%%:*} n=${db##*:}
	case $name in inline/*) cluster_env inline; name=${name#inline/} ;; esac
	"${psql[@]}" -c "CREATE DATABASE $name"
	"${psql[@]}" -d "$name" -v ntokens="$n" -v nusers="$USERS" -f bench/fixture.sql
	"${psql[@]}" -d "$name" -f bench/reference_validate.sql
	# Every variant looks its token up in a side table of the same size:
	# in the large database, a sample of $SMALL of its tokens.  So V6 and V2
	# differ only in the size of api_tokens.
	"${psql[@]}" -d "$name" -c "DELETE FROM bench_tokens WHERE id > $SMALL" -c "VACUUM ANALYZE bench_tokens"
	# Start warm: both fixtures fit in shared_buffers, and the comparison is
	# about lookups, not about reading a cold table from the OS.
	"${psql[@]}" -d "$name" -c "CREATE EXTENSION pg_prewarm" \
		-c "SELECT sum(pg_prewarm(c.oid)) FROM pg_class c
		     WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'i')" >/dev/null
done
# 1.2's limits: copies of the small database where every token has a rate
# limit it never reaches, or credits it never runs out of.
cluster_env bench
"${psql[@]}" -c "CREATE DATABASE rated TEMPLATE small" -c "CREATE DATABASE credited TEMPLATE small"
"${psql[@]}" -d rated -c "INSERT INTO api_token_limits (token_id, rate_limit, rate_window)
	SELECT id, 2000000000, interval '1 hour' FROM api_tokens" -c "VACUUM ANALYZE api_token_limits"
"${psql[@]}" -d credited -c "INSERT INTO api_token_limits (token_id, credits, credits_version)
	SELECT id, 1000000000000, 1 FROM api_tokens" -c "VACUUM ANALYZE api_token_limits"
for name in rated credited; do
	"${psql[@]}" -d "$name" -c "SELECT sum(pg_prewarm(c.oid)) FROM pg_class c
		WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'i')" >/dev/null
done
# Write out what building the fixtures dirtied, before measuring anything.
on inline "${psql[@]}" -c "CHECKPOINT"
cluster_env bench
"${psql[@]}" -c "CHECKPOINT"
bytes_per_token() {
	"${psql[@]}" -d "$1" -At -c "SELECT round(pg_total_relation_size('api_tokens')::numeric / count(*)) FROM api_tokens"
}

# run CLUSTER DB SCRIPT INTERVAL [SECONDS]: one pgbench run, prints tps.
run() {
	PGOPTIONS="-c api_tokens.last_used_interval=$4" on "$1" \
		"$PGBIN/pgbench" -n -M prepared -c "$CLIENTS" -j 2 -T "${5:-$DURATION}" \
		-D ntokens="$SMALL" -f "bench/$3" "$2" 2>&1 |
		sed -n 's/^tps = \([0-9.]*\) (without initial connection time)/\1/p'
}
# updates CLUSTER: rows of api_tokens updated so far (in small).
updates() {
	on "$1" "${psql[@]}" -d small -At -c "SELECT n_tup_upd FROM pg_stat_user_tables WHERE relname = 'api_tokens'"
}
# steady CLUSTER ROUND NAME: the steady state at the default interval (one
# minute): last uses spread over the past minute, so that tokens fall due at
# 1/60 of the fleet per second; prints tps, records writes per second.
steady() {
	local before tps
	on "$1" "${psql[@]}" -d small -c "UPDATE api_tokens SET last_used_at = now() - random() * interval '60 s'"
	on "$1" "${psql[@]}" -d small -c "VACUUM api_tokens"
	before=$(updates "$1")
	tps=$(run "$1" small validate.pgbench 60)
	# The backends' statistics reach the collector as they exit; the
	# worker's uses of the run are written within a flush interval (10 s).
	if [ "$1" = bench ]; then sleep 11; else sleep 1; fi
	echo "$2 writes_$3 $((($(updates "$1") - before) / DURATION))" >>"$results"
	echo "$tps"
}
# settle CLUSTER: waits until the worker has written what the last run
# recorded: last uses, and credits spent (within a flush interval), so that
# no variant pays for the writes of the one before.
settle() {
	on "$1" "${psql[@]}" -At -d small -c "DO \$\$BEGIN
	  WHILE (SELECT pending FROM api_tokens_last_use_state()) > 0
	     OR (SELECT credits_unwritten FROM api_tokens_limit_state()) > 0 LOOP
	    PERFORM pg_sleep(0.2);
	  END LOOP;
	END\$\$" 2>/dev/null || true
}

# flush_every SECONDS: the worker's interval on the preloaded server (a
# reload; it counts from the worker's last round).
flush_every() {
	on bench "${psql[@]}" -c "ALTER SYSTEM SET api_tokens.flush_interval = '$1s'" \
		-c "SELECT pg_reload_conf()" >/dev/null
}
# credits_flushed_every SECONDS: V12 with the worker writing credits every
# SECONDS, for one interval or DURATION if longer: the run holds one write
# of every token's credits, as a steady state at that interval does.
credits_flushed_every() {
	local tps
	flush_every "$1"
	local seconds=$((DURATION > $1 ? DURATION : $1))
	if [ -n "${BENCH_QUICK:-}" ]; then seconds=$DURATION; fi
	tps=$(run bench credited verify.pgbench $LONG_INTERVAL "$seconds")
	flush_every 10
	echo "$tps"
}

read -r -a variants <<<"${VARIANTS:-select1 probe validate reference hot distinct large steady steady_inline distinct_inline verify rate credits credits_60s rate_hot credits_hot}"
results=$(mktemp)
for round in $(seq 1 "$ROUNDS"); do
	# Interleave: each round starts one variant later.
	for i in $(seq 0 $((${#variants[@]} - 1))); do
		v=${variants[$(((i + round - 1) % ${#variants[@]}))]}
		# Clear what the write variants left behind: no variant starts while
		# the worker is still writing the uses of the one before.
		# Then vacuum, and checkpoint, so that no variant pays for the
		# writes of the one before (autovacuum, checkpoint writes).
		settle bench
		for cluster in bench inline; do
			on "$cluster" "${psql[@]}" -d small -c "VACUUM ANALYZE api_tokens" -c "CHECKPOINT"
		done
		on bench "${psql[@]}" -d credited -c "VACUUM api_token_limits"
		case $v in
			select1) tps=$(run bench small select1.pgbench $LONG_INTERVAL) ;;
			probe) tps=$(run bench small probe.pgbench $LONG_INTERVAL) ;;
			validate) tps=$(run bench small validate.pgbench $LONG_INTERVAL) ;;
			reference) tps=$(run bench small reference.pgbench $LONG_INTERVAL) ;;
			large) tps=$(run bench large validate.pgbench $LONG_INTERVAL) ;;
			hot) tps=$(run bench small hot_token.pgbench 0) ;;
			distinct) tps=$(run bench small validate.pgbench 0) ;;
			distinct_inline) tps=$(run inline small validate.pgbench 0) ;;
			verify) tps=$(run bench small verify.pgbench $LONG_INTERVAL) ;;
			rate) tps=$(run bench rated verify.pgbench $LONG_INTERVAL) ;;
			credits) tps=$(run bench credited verify.pgbench $LONG_INTERVAL) ;;
			credits_60s) tps=$(credits_flushed_every 60) ;;
			rate_hot) tps=$(run bench rated verify_hot.pgbench $LONG_INTERVAL) ;;
			credits_hot) tps=$(run bench credited verify_hot.pgbench $LONG_INTERVAL) ;;
			steady) tps=$(steady bench "$round" steady) ;;
			steady_inline) tps=$(steady inline "$round" steady_inline) ;;
		esac
		echo "$round $v ${tps:-0}" >>"$results"
		echo "round $round: $v ${tps:-0} tps"
	done
done

status=0
python3 - "$results" "$(bytes_per_token small)" "$(bytes_per_token large)" "$SMALL" "$LARGE" <<'PY' || status=$?
import statistics, sys
from collections import defaultdict
path, bytes_small, bytes_large, small, large = sys.argv[1:]
runs = defaultdict(dict)
for line in open(path):
    rnd, name, value = line.split()
    runs[name][int(rnd)] = float(value)
med = lambda xs: statistics.median(xs) if xs else float('nan')

labels = {
    'select1': 'V0 SELECT 1 (floor)',
    'probe': 'V1 bare probe by precomputed hash',
    'validate': 'V2 api_token_validate',
    'reference': 'V3 PL/pgSQL + pgcrypto reference',
    'hot': 'V4 one hot token, interval 0',
    'distinct': 'V5 distinct tokens, interval 0',
    'large': f'V6 api_token_validate, {int(large):,} tokens',
    'steady': 'V7 steady state, interval 1 min',
    'steady_inline': 'V8 = V7, not preloaded (inline writes)',
    'distinct_inline': 'V9 = V5, not preloaded (inline writes)',
    'verify': 'V10 api_token_verify, no token limited',
    'rate': 'V11 verify, every token rate-limited',
    'credits': 'V12 verify, every token spends a credit',
    'credits_60s': 'V15 = V12, api_tokens.flush_interval = 60s',
    'rate_hot': 'V13 = V11, one hot token',
    'credits_hot': 'V14 = V12, one hot token',
}
print()
print(f"{'variant':44} {'median tps':>11} {'min':>9} {'max':>9}")
print("V0-V7 on the preloaded server, V8-V9 on the other one")
for key, label in labels.items():
    xs = list(runs[key].values())
    if not xs:
        continue
    print(f"{label:44} {med(xs):11.0f} {min(xs):9.0f} {max(xs):9.0f}")
print(f"read-path variants (V0-V3, V6, V10-V15): api_tokens.last_used_interval = 1 day, every token "
      f"used within the last day: no token was due for a last_used_at write")

def ratio(a, b):
    return med([runs[a][r] / runs[b][r] for r in runs[a] if r in runs[b] and runs[b][r]])

print()
print(f"{'target':58} {'median ratio':>12} {'goal':>6}  result")
failed = False
for name, a, b, goal in [
        ('T1 validate / bare probe', 'validate', 'probe', 0.95),
        ('T2 validate / PL/pgSQL reference', 'validate', 'reference', 1.15),
        ('T3 hot token / distinct tokens (interval 0)', 'hot', 'distinct', 1.00),
        (f'T4 validate at {int(large):,} / at {int(small):,} tokens', 'large', 'validate', 0.90),
        ('T5 steady state, preloaded / read path', 'steady', 'validate', 0.95),
        ('T6 distinct tokens, interval 0, preloaded / read path', 'distinct', 'validate', 0.90),
        ('T7 hot token, interval 0, preloaded / read path', 'hot', 'validate', 0.90),
        ('T8 rate limit, distinct tokens / validate', 'rate', 'validate', 0.90),
        ('T9 credits, distinct tokens / validate', 'credits', 'validate', 0.90),
        ('T10 rate limit, one hot token / validate', 'rate_hot', 'validate', 0.90),
        ('T11 credits, one hot token / validate', 'credits_hot', 'validate', 0.90)]:
    if not runs[a] or not runs[b]:
        continue
    r = ratio(a, b)
    ok = r >= goal
    failed |= not ok
    print(f"{name:58} {r:12.3f} {goal:6.2f}  {'PASS' if ok else 'FAIL'}")
for name, a, b in [('   validate / SELECT 1 (the floor)', 'validate', 'select1'),
                   ('   V8 steady state, not preloaded / read path', 'steady_inline', 'validate'),
                   ('   V9 distinct, interval 0, not preloaded / read path', 'distinct_inline', 'validate'),
                   ('   V10 verify / validate (no limits anywhere)', 'verify', 'validate'),
                   ('   V15 credits, flush_interval 60 s / validate', 'credits_60s', 'validate')]:
    if runs[a] and runs[b]:
        print(f"{name:58} {ratio(a, b):12.3f}")
print()
for key, label in [('writes_steady', 'V7 (by the worker)'), ('writes_steady_inline', 'V8 (inline)')]:
    if runs[key]:
        print(f"{label} last_used_at writes per second: median {med(list(runs[key].values())):.0f} "
              f"({int(small):,} tokens / 60 s = {int(small) / 60:.0f} at most)")
print(f"table + indexes per token: {bytes_small} bytes at {int(small):,} tokens, "
      f"{bytes_large} bytes at {int(large):,}")
sys.exit(1 if failed else 0)
PY

rm -f "$results"
if [ $status -ne 0 ] && [ -n "${BENCH_STRICT:-}" ]; then exit 1; fi
exit 0
