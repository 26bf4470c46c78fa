#!/usr/bin/env bash
# Row Level Security benchmark: what a policy USING (owner_id =
# api_token_current_user()) costs next to the same policy against a
# constant uuid, and next to the (SELECT api_token_current_user()) form.
#
# One table of notes (1,000,000 rows over 1,000 users), one login role per
# policy (bench/rls_fixture.sql), so every variant reads the same rows and
# buffers.  Each transaction authenticates a token of the constant's user,
# then counts the notes it may see (bench/rls_count.pgbench), in two shapes:
#   index      the planner's choice: the policy is an index condition
#   full scan  index and bitmap scans disabled: the policy is evaluated for
#              each of the 1,000,000 rows, which is where a per-row cost shows
# Variants run interleaved for ROUNDS rounds; the script prints the median
# tps of each and the median of the ratios computed within each round, the
# plans, and a single-backend measurement of the full scan (buffers, time,
# calls of the function, reads of api_tokens).
#
#   bench/rls.sh                 ROUNDS=5 DURATION=10 CLIENTS=4
#   BENCH_QUICK=1 bench/rls.sh   small fixture, short runs: checks the script
#   BENCH_STRICT=1 bench/rls.sh  exit 1 if function / constant < 0.90 with the index, < 0.85 in the full scan
#   VARIANTS="scan_const scan_fn" bench/rls.sh   only some variants
set -euo pipefail
cd "$(dirname "$0")/.."
. test/lib/packages.sh
ensure_host_postgres
. test/lib/cluster.sh

ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-10}
CLIENTS=${CLIENTS:-4}
USERS=1000
NROWS=1000000
NTOKENS=1000 # tokens of the constant's user, picked at random by the clients
SAMPLES=15   # single-backend full scans per variant
if [ -n "${BENCH_QUICK:-}" ]; then
	ROUNDS=2 DURATION=2 USERS=100 NROWS=20000 NTOKENS=50 SAMPLES=3
fi
THREADS=$((CLIENTS < 2 ? CLIENTS : 2))
# Planner settings of the full-scan shape (the policy on every row).
SCAN="-c enable_indexscan=off -c enable_indexonlyscan=off -c enable_bitmapscan=off"

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "server:  $("$PGBIN/postgres" --version)"
echo "runs:    $ROUNDS rounds x $DURATION s per variant, $CLIENTS clients, pgbench -M prepared"
echo "fixture: $NROWS notes over $USERS users, $((NROWS / USERS)) rows per user"
echo "load:    $(cut -d' ' -f1-3 /proc/loadavg) (1, 5, 15 min) at start"

cluster_init rls
# max_parallel_workers_per_gather = 0: api_token_current_user() is PARALLEL
# RESTRICTED, so its variant could not use a parallel scan while the
# constant's could; compare like with like.  jit = off: no variant crosses
# its cost thresholds anyway, say so rather than depend on it.
# Huge pages stay off (this script changes no system setting): the clients
# of a run stay connected, so each pays its page faults through the shared
# buffers once per run, not once per transaction.
cluster_configure rls "
shared_buffers = 512MB
huge_pages = off
max_connections = 50
max_parallel_workers_per_gather = 0
jit = off
api_tokens.last_used_interval = 86400
"
cluster_start rls
cluster_env rls
psql="psql -X -q -v ON_ERROR_STOP=1"

echo "building the fixture ..."
$psql -c "CREATE DATABASE rls"
$psql -d rls -v nusers="$USERS" -v nrows="$NROWS" -v ntokens="$NTOKENS" -f bench/rls_fixture.sql
# Start warm: the table and its indexes fit in shared_buffers.
$psql -d rls -c "SELECT sum(pg_prewarm(c.oid)) FROM pg_class c
                  WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'i')" >/dev/null
$psql -c "CHECKPOINT"
echo "notes: $($psql -d rls -At -c "SELECT pg_size_pretty(pg_table_size('notes')) || ' table, '
                                    || pg_size_pretty(pg_indexes_size('notes')) || ' indexes'")"

# The first token of bench_tokens, a token of the constant's user.
AUTH="SELECT status FROM api_token_authenticate((SELECT token FROM bench_tokens WHERE id = 1))"

echo
echo "plans (EXPLAIN (COSTS OFF) as each role, after authenticating; rows counted):"
expected=$((NROWS / USERS))
for shape in index scan; do
	for role in const fn sub; do
		opts=""
		[ "$shape" = scan ] && opts=$SCAN
		out=$(PGOPTIONS="$opts" $psql -d rls -U "web_$role" -At <<-SQL
			BEGIN;
			$AUTH \g /dev/null
			EXPLAIN (COSTS OFF) SELECT count(*) FROM notes;
			SELECT 'rows ' || count(*) FROM notes;
			ROLLBACK;
		SQL
		)
		rows=$(sed -n 's/^rows //p' <<<"$out")
		echo "  $shape, web_$role: $rows rows"
		grep -v '^rows ' <<<"$out" | sed 's/^/      /'
		if [ "$rows" != "$expected" ]; then
			echo "web_$role sees $rows rows, not $expected" >&2
			exit 1
		fi
	done
done

# run ROLE LO HI SCRIPT PGOPTIONS: one pgbench run, prints tps; fails with
# pgbench's output if a client aborted (an error is not a measurement).
run() {
	local out
	out=$(PGOPTIONS="$5" "$PGBIN/pgbench" -n -M prepared -U "$1" -c "$CLIENTS" -j "$THREADS" \
		-T "$DURATION" -D lo="$2" -D hi="$3" -f "bench/$4" rls 2>&1) || { echo "$out" >&2; return 1; }
	sed -n 's/^tps = \([0-9.]*\) (without initial connection time)/\1/p' <<<"$out"
}

read -r -a variants <<<"${VARIANTS:-auth index_const index_fn index_sub index_any scan_const scan_fn scan_sub}"
results=$(mktemp)
single=$(mktemp)
trap 'rm -f "$results" "$single" "$single.out"; cluster_cleanup' EXIT
echo
for round in $(seq 1 "$ROUNDS"); do
	# Interleave: each round starts one variant later.
	for i in $(seq 0 $((${#variants[@]} - 1))); do
		v=${variants[$(((i + round - 1) % ${#variants[@]}))]}
		case $v in
			auth) tps=$(run web_fn 1 $NTOKENS rls_auth.pgbench "") ;;
			index_const) tps=$(run web_const 1 $NTOKENS rls_count.pgbench "") ;;
			index_fn) tps=$(run web_fn 1 $NTOKENS rls_count.pgbench "") ;;
			index_sub) tps=$(run web_sub 1 $NTOKENS rls_count.pgbench "") ;;
			# A token of any user: each transaction counts another user's rows.
			index_any) tps=$(run web_fn $((NTOKENS + 1)) $((NTOKENS + USERS)) rls_count.pgbench "") ;;
			scan_const) tps=$(run web_const 1 $NTOKENS rls_count.pgbench "$SCAN") ;;
			scan_fn) tps=$(run web_fn 1 $NTOKENS rls_count.pgbench "$SCAN") ;;
			scan_sub) tps=$(run web_sub 1 $NTOKENS rls_count.pgbench "$SCAN") ;;
			*) echo "unknown variant $v" >&2 && exit 1 ;;
		esac
		echo "$round $v $tps" >>"$results"
		echo "round $round: $v $tps tps"
	done
done

# One backend, the full-scan shape, interleaved: EXPLAIN (ANALYZE, BUFFERS)
# SAMPLES times for the time and the buffers, then once more with
# track_functions = all (which slows every call it counts, so it is kept out
# of the timed runs) for the calls of the function and the reads of
# api_tokens that happened during the query.
# sample ROLE TAG: one authenticated transaction as web_ROLE.
sample() {
	cat <<-SQL
		SET ROLE web_$1;
		BEGIN;
		$AUTH \g /dev/null
		SELECT coalesce(sum(seq_scan + coalesce(idx_scan, 0)), 0) AS reads
		  FROM pg_stat_xact_user_tables WHERE relname = 'api_tokens' \gset
		SELECT coalesce(sum(calls), 0) AS calls
		  FROM pg_stat_xact_user_functions WHERE funcname = 'api_token_current_user' \gset
		\echo $2 $1
		EXPLAIN (ANALYZE, BUFFERS, TIMING OFF, COSTS OFF) SELECT count(*) FROM notes;
		SELECT 'calls ' || coalesce(sum(calls), 0) - :calls
		  FROM pg_stat_xact_user_functions WHERE funcname = 'api_token_current_user';
		SELECT 'api_tokens ' || coalesce(sum(seq_scan + coalesce(idx_scan, 0)), 0) - :reads
		  FROM pg_stat_xact_user_tables WHERE relname = 'api_tokens';
		COMMIT;
		RESET ROLE;
	SQL
}
{
	for opt in $SCAN; do [ "$opt" = -c ] || echo "SET ${opt/=/ = };"; done
	roles=(const fn sub)
	for s in $(seq 0 $((SAMPLES - 1))); do
		# Each sample starts one role later, like the rounds.
		for i in 0 1 2; do sample "${roles[$(((i + s) % 3))]}" timed; done
	done
	echo "SET track_functions = 'all';"
	for role in const fn sub; do sample $role counted; done
} >"$single"
$psql -d rls -At -f "$single" >"$single.out"
echo "load:    $(cut -d' ' -f1-3 /proc/loadavg) (1, 5, 15 min) at end"

status=0
python3 - "$results" "$single.out" "$NROWS" "$CLIENTS" <<'PY' || status=$?
import re, statistics, sys
from collections import defaultdict
path, single_path, nrows, clients = sys.argv[1:]
nrows = int(nrows)
runs = defaultdict(dict)
for line in open(path):
    rnd, name, value = line.split()
    runs[name][int(rnd)] = float(value)
med = lambda xs: statistics.median(xs) if xs else float('nan')

labels = {
    'auth': 'A  authenticate only (floor)',
    'index_const': 'I1 index: policy = constant',
    'index_fn': 'I2 index: policy = api_token_current_user()',
    'index_sub': 'I3 index: policy = (SELECT api_token_current_user())',
    'index_any': 'I4 index: function, a token of any user',
    'scan_const': 'S1 full scan: policy = constant',
    'scan_fn': 'S2 full scan: policy = api_token_current_user()',
    'scan_sub': 'S3 full scan: policy = (SELECT api_token_current_user())',
}
print()
print(f"{'variant':58} {'median tps':>11} {'min':>9} {'max':>9}")
for key, label in labels.items():
    xs = list(runs[key].values())
    if xs:
        print(f"{label:58} {med(xs):11.1f} {min(xs):9.1f} {max(xs):9.1f}")
print("every variant: max_parallel_workers_per_gather = 0 (the function is PARALLEL RESTRICTED), "
      "jit = off; I1-I3, S1-S3 authenticate a token of the constant's user")

def ratio(a, b):
    return med([runs[a][r] / runs[b][r] for r in runs[a] if r in runs[b] and runs[b][r]])

print()
print(f"{'ratio (median of the per-round ratios)':58} {'median':>8} {'goal':>6}  result")
failed = False
for name, a, b, goal in [
        ('index: function / constant', 'index_fn', 'index_const', 0.90),
        ('index: (SELECT function) / constant', 'index_sub', 'index_const', None),
        ('index: function, any user / constant', 'index_any', 'index_const', None),
        ('index: constant / authenticate only', 'index_const', 'auth', None),
        ('full scan: function / constant', 'scan_fn', 'scan_const', 0.85),
        ('full scan: (SELECT function) / constant', 'scan_sub', 'scan_const', None),
        ('full scan: function / (SELECT function)', 'scan_fn', 'scan_sub', None)]:
    if not runs[a] or not runs[b]:
        continue
    r = ratio(a, b)
    if goal is None:
        print(f"{name:58} {r:8.3f}")
        continue
    ok = r >= goal
    failed |= not ok
    print(f"{name:58} {r:8.3f} {goal:6.2f}  {'PASS' if ok else 'FAIL'}")

# The single-backend full scans.
timed, counted = defaultdict(list), {}
cur = None
for line in open(single_path):
    line = line.strip()
    if line.startswith(('timed ', 'counted ')):
        kind, role = line.split()
        cur = {}
        (timed[role].append(cur) if kind == 'timed' else counted.__setitem__(role, cur))
    elif cur is None:
        continue
    elif line.startswith('Buffers:') and 'buffers' not in cur:
        cur['buffers'] = line
    elif line.startswith('Execution Time:'):
        cur['ms'] = float(re.search(r'([0-9.]+) ms', line).group(1))
    elif line.startswith('calls '):
        cur['calls'] = int(line.split()[1])
    elif line.startswith('api_tokens '):
        cur['api_tokens'] = int(line.split()[1])
names = {'const': 'constant', 'fn': 'api_token_current_user()', 'sub': '(SELECT api_token_current_user())'}
print()
print(f"one backend, full scan of {nrows:,} rows, EXPLAIN (ANALYZE, BUFFERS, TIMING OFF), "
      f"{len(timed['const'])} runs each, interleaved:")
print(f"  {'policy':34} {'median ms':>9} {'min ms':>7} {'calls':>9} {'api_tokens':>10}  buffers (top node)")
ms = {k: med([s['ms'] for s in timed[k]]) for k in names}
low = {k: min(s['ms'] for s in timed[k]) for k in names}
for key, name in names.items():
    bufs = sorted({s.get('buffers', 'Buffers: none') for s in timed[key]})
    print(f"  {name:34} {ms[key]:9.1f} {low[key]:7.1f} {counted[key]['calls']:9} "
          f"{counted[key]['api_tokens']:10}  {' | '.join(bufs)}")
for key in ('fn', 'sub'):
    print(f"  {names[key]} - constant: {(ms[key] - ms['const']) * 1e6 / nrows:+.1f} ns per row (medians), "
          f"{(low[key] - low['const']) * 1e6 / nrows:+.1f} (minimums)")
print("  calls: of api_token_current_user() while planning and running the query (the planner")
print("  evaluates it once for its row estimate); api_tokens: scans of the api_tokens table during")
print("  the query; both counted in one more run each with track_functions = all")
sys.exit(1 if failed else 0)
PY

if [ $status -ne 0 ] && [ -n "${BENCH_STRICT:-}" ]; then exit 1; fi
exit 0
