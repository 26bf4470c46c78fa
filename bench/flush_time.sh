#!/usr/bin/env bash
# How long the flusher takes to write spent credits: every one of N tokens
# (default 100,000) spends one credit, then the worker is woken and timed
# until nothing is left unwritten; ROUNDS times (default 5) in one server,
# so that later rounds rewrite rows the earlier ones updated.  Prints the
# time of each round and their median, and how many updates were HOT.
#
#   bench/flush_time.sh            N=100000 ROUNDS=5
set -euo pipefail
cd "$(dirname "$0")/.."
. test/lib/packages.sh
ensure_host_postgres
. test/lib/cluster.sh
trap cluster_cleanup EXIT

N=${N:-100000}
ROUNDS=${ROUNDS:-5}
cluster_init flush
# No autovacuum: the rounds differ only by what the flusher does.
cluster_configure flush "
shared_buffers = 512MB
shared_preload_libraries = 'api_tokens'
api_tokens.max_limited_tokens = $((2 * N))
api_tokens.flush_interval = 3600
autovacuum = off
"
cluster_start flush
cluster_env flush
psql=(psql -X -q -v ON_ERROR_STOP=1)
"${psql[@]}" -c "CREATE DATABASE credited"
"${psql[@]}" -d credited -v ntokens="$N" -v nusers=10000 -f bench/fixture.sql >/dev/null
"${psql[@]}" -d credited -c "DELETE FROM bench_tokens WHERE id > $N" \
	-c "INSERT INTO api_token_limits (token_id, credits, credits_version)
	    SELECT id, 1000000000000, 1 FROM api_tokens" \
	-c "VACUUM ANALYZE api_token_limits" -c "CHECKPOINT"
flush_every() {
	"${psql[@]}" -c "ALTER SYSTEM SET api_tokens.flush_interval = '$1'" -c "SELECT pg_reload_conf()" >/dev/null
}
times=()
for round in $(seq 1 "$ROUNDS"); do
	spent=$("${psql[@]}" -d credited -At -c "SELECT count(*) FROM bench_tokens b,
		LATERAL api_token_verify(b.token, NULL, NULL, 1) v WHERE v.status = 'valid'")
	[ "$spent" = "$N" ] || { echo "only $spent of $N tokens spent" >&2; exit 1; }
	start=$(date +%s.%N)
	flush_every 1s
	"${psql[@]}" -d credited -c "DO \$\$BEGIN
		WHILE (SELECT credits_unwritten FROM api_tokens_limit_state()) > 0 LOOP
		  PERFORM pg_sleep(0.01);
		END LOOP;
	END\$\$"
	end=$(date +%s.%N)
	flush_every 3600s
	times+=("$(python3 -c "print(f'{$end - $start:.3f}')")")
	echo "round $round: ${times[-1]} s to write $N balances"
done
echo "median: $(printf '%s\n' "${times[@]}" | sort -n | sed -n "$(((ROUNDS + 1) / 2))p") s"
"${psql[@]}" -d credited -At -F ' ' -c "SELECT 'updates:', n_tup_upd, 'HOT:', n_tup_hot_upd
	FROM pg_stat_user_tables WHERE relname = 'api_token_limits'"
