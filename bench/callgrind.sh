#!/usr/bin/env bash
# Instructions per call, counted by callgrind (repeatable whatever else the
# machine is doing), for api_token_validate and for the bare index probe it
# competes with.  A single-user backend runs a prepared statement N times;
# the count of a run with 0 executions is subtracted.
#
#   bench/callgrind.sh            N=2000, 10,000 tokens
set -euo pipefail
cd "$(dirname "$0")/.."
. test/lib/packages.sh
ensure_packages valgrind
. test/lib/cluster.sh

N=${N:-2000}
cluster_init cg
cluster_start cg
cluster_env cg
psql -X -q -v ON_ERROR_STOP=1 -c "CREATE DATABASE cg"
psql -X -q -v ON_ERROR_STOP=1 -d cg -v ntokens=10000 -v nusers=1000 -f bench/fixture.sql
cluster_stop cg
data=$(cluster_dir cg)/data
work=$(cluster_dir cg)

# statements SQL N PASSES: the commands for one measured run: PASSES
# passes over the same N tokens.
statements() {
	local n=$2
	echo "PREPARE q(int) AS $1;"
	# The first execution builds caches; it is part of the baseline.
	echo "EXECUTE q(1);"
	for _ in $(seq "$3"); do
		for i in $(seq 2 $((n + 1))); do echo "EXECUTE q($(((i * 7919) % 10000 + 1)));"; done
	done
}

# instructions SQL N PASSES [SETTINGS...]: callgrind's total for the
# single-user run; by default no token is due for a last-use write
# (interval 1 day).
instructions() {
	local out="$work/cg.out" sql=$1 n=$2 passes=$3
	shift 3
	statements "$sql" "$n" "$passes" >"$work/cmds.sql"
	chmod 644 "$work/cmds.sql"
	as_cluster_owner valgrind --tool=callgrind --callgrind-out-file="$out" -q \
		"$PGBIN/postgres" --single -D "$data" -c api_tokens.last_used_interval=86400 "$@" "${DB:-cg}" \
		<"$work/cmds.sql" >/dev/null 2>&1
	callgrind_annotate "$out" 2>/dev/null | sed -n 's/^\([0-9,]*\) .*PROGRAM TOTALS.*/\1/p' | tr -d ,
	rm -f "$out"
}

# per_call SQL [SETTINGS...]: instructions per execution, each of a token
# not seen before; with SEEN=1, of a token seen before (the second of two
# passes over the same N tokens, less a run of the first alone).
per_call() {
	local base full
	if [ -n "${SEEN:-}" ]; then
		base=$(instructions "$1" "$N" 1 "${@:2}")
		full=$(instructions "$1" "$N" 2 "${@:2}")
	else
		base=$(instructions "$1" 0 1 "${@:2}")
		full=$(instructions "$1" "$N" 1 "${@:2}")
	fi
	echo $(((full - base) / N))
}

# shellcheck disable=SC2016 # $1: the statement's parameter
validate='SELECT status FROM api_token_validate((SELECT token FROM bench_tokens WHERE id = $1))'
# shellcheck disable=SC2016 # $1: the statement's parameter
probe='SELECT user_id FROM api_tokens WHERE token_hash = (SELECT token_hash FROM bench_tokens WHERE id = $1)'
v=$(per_call "$validate")
p=$(per_call "$probe")
echo "instructions per call ($N calls, callgrind): validate $v, bare probe $p, difference $((v - p))"
# Every use recorded (interval 0; each EXECUTE is a transaction of its own):
# written at commit by the validating transaction, or, with the library
# preloaded, recorded in shared memory for the worker (which a single-user
# server does not start: its writes are not counted here).
inline=$(per_call "$validate" -c api_tokens.last_used_interval=0)
shared=$(per_call "$validate" -c api_tokens.last_used_interval=0 -c shared_preload_libraries=api_tokens)
echo "every use recorded (interval 0): validate $inline written at commit, $shared through shared memory"

# 1.2's limits, with the library preloaded: api_token_verify where no token
# has limits, then in a copy where every token has a rate limit it never
# reaches and credits it never runs out of (spent in shared memory).
cluster_start cg
cluster_env cg
psql -X -q -v ON_ERROR_STOP=1 -c "CREATE DATABASE cg_limits TEMPLATE cg"
psql -X -q -v ON_ERROR_STOP=1 -d cg_limits -c "INSERT INTO api_token_limits (token_id, rate_limit, rate_window, credits, credits_version)
	SELECT id, 2000000000, interval '1 hour', 1000000000000, 1 FROM api_tokens"
# One limited token (bench id 2, which no measured call presents): the
# others pay for looking for a limits row they do not have.
psql -X -q -v ON_ERROR_STOP=1 -c "CREATE DATABASE cg_one_limit TEMPLATE cg"
psql -X -q -v ON_ERROR_STOP=1 -d cg_one_limit -c "INSERT INTO api_token_limits (token_id, rate_limit, rate_window)
	SELECT t.id, 10, interval '1 hour' FROM api_tokens t JOIN bench_tokens b USING (token_hash) WHERE b.id = 2"
cluster_stop cg
# shellcheck disable=SC2016 # $1: the statement's parameter
verify='SELECT status FROM api_token_verify((SELECT token FROM bench_tokens WHERE id = $1), NULL, NULL, 1)'
preload=(-c shared_preload_libraries=api_tokens -c api_tokens.max_limited_tokens=20000)
plain=$(per_call "$verify" "${preload[@]}")
limited=$(DB=cg_limits per_call "$verify" "${preload[@]}")
validate_limited=$(DB=cg_limits per_call "$validate" "${preload[@]}")
echo "1.2, preloaded: verify $plain with no limits in the database; with a rate limit and a credit spent: verify $limited, validate $validate_limited"
# A token seen before: the shared table knows where its limits row is, and
# reads it there instead of probing the index.
validate_seen=$(SEEN=1 per_call "$validate" "${preload[@]}")
plain_seen=$(SEEN=1 per_call "$verify" "${preload[@]}")
limited_seen=$(DB=cg_limits SEEN=1 per_call "$verify" "${preload[@]}")
validate_limited_seen=$(DB=cg_limits SEEN=1 per_call "$validate" "${preload[@]}")
echo "1.2, preloaded, tokens seen before: validate $validate_seen, verify $plain_seen with no limits in the database; with a rate limit and a credit spent (the row read where it was last found): verify $limited_seen, validate $validate_limited_seen"
unlimited_seen=$(DB=cg_one_limit SEEN=1 per_call "$validate" "${preload[@]}")
echo "1.2, preloaded, tokens seen before, without limits in a database where one token has a rate limit: validate $unlimited_seen"

