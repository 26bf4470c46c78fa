#!/usr/bin/env bash
# versions: 15 17
# Validation through PgBouncer in transaction pooling mode: concurrent
# clients share a few server connections, every result is right, and one
# client session is served by several backends without noticing.  With
# PgBouncer 1.21 or later (max_prepared_statements), named prepared
# statements too: pgbench -M prepared and psycopg 3 preparing every query.
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/lib/cluster.sh
. test/lib/packages.sh
ensure_packages pgbouncer python3-psycopg

fail() { echo "FAIL: $*" >&2; exit 1; }

cluster_init pool
cluster_start pool
cluster_env pool
psql -X -q -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
CREATE DATABASE pooltest;
\c pooltest
CREATE TABLE users (id uuid PRIMARY KEY);
CREATE EXTENSION api_tokens;
INSERT INTO users VALUES ('00000000-0000-0000-0000-000000000001');
-- 1,000 tokens kept in plaintext for the test, with the status each must get.
CREATE TABLE plain AS
  SELECT n, c.token, c.token_id, 'valid'::text AS expect
    FROM generate_series(1, 1000) n,
         LATERAL api_token_create('00000000-0000-0000-0000-000000000001', 'token ' || n, '{read}') c;
SELECT api_token_revoke(token_id) FROM plain WHERE n % 100 = 0;
UPDATE plain SET expect = 'inactive' WHERE n % 100 = 0;
CREATE ROLE app LOGIN;
GRANT EXECUTE ON FUNCTION api_token_validate(text, text[]) TO app;
GRANT SELECT ON plain TO app;
SQL

version=$(pgbouncer --version | head -1 | cut -d' ' -f2)
# Named prepared statements in transaction pooling came with 1.21.
prepared=
printf '%s\n' 1.21 "$version" | sort -V -C && prepared=1

# PgBouncer refuses to run as root: it runs as the clusters' owner.
dir=$(cluster_dir pool)
bouncer_port=$(($(cluster_port pool) + 1))
printf '"app" ""\n"postgres" ""\n' | as_cluster_owner tee "$dir/userlist.txt" >/dev/null
as_cluster_owner tee "$dir/pgbouncer.ini" >/dev/null <<EOF_INI
[databases]
pooltest = host=$dir/socket port=$(cluster_port pool) dbname=pooltest
[pgbouncer]
listen_addr =
listen_port = $bouncer_port
unix_socket_dir = $dir/socket
pool_mode = transaction
default_pool_size = 3
max_client_conn = 100
auth_type = trust
auth_file = $dir/userlist.txt
admin_users = postgres
$([ -n "$prepared" ] && echo "max_prepared_statements = 100")
logfile = $dir/pgbouncer.log
pidfile = $dir/pgbouncer.pid
EOF_INI
as_cluster_owner pgbouncer -d "$dir/pgbouncer.ini"
stop_bouncer() { if [ -f "$dir/pgbouncer.pid" ]; then kill "$(cat "$dir/pgbouncer.pid")" 2>/dev/null || true; fi; }
trap 'stop_bouncer; cluster_cleanup' EXIT
for _ in $(seq 1 100); do [ -S "$dir/socket/.s.PGSQL.$bouncer_port" ] && break; sleep 0.05; done
echo "pgbouncer $version, pool_mode = transaction, 3 server connections"

through_bouncer() { psql -X -q -v ON_ERROR_STOP=1 -At -h "$dir/socket" -p "$bouncer_port" -U app -d pooltest; }

# Each transaction validates a random token and fails (division by zero,
# which aborts the pgbench client) if the status is not the expected one.
cat >"$dir/check.pgbench" <<'EOF_BENCH'
\set n random(1, 1000)
SELECT 1 / (v.status = p.expect)::int
  FROM plain p, LATERAL api_token_validate(p.token, '{read}') v WHERE p.n = :n;
EOF_BENCH
# The extended protocol with unnamed statements works with any version;
# named prepared statements need 1.21 or later.
modes="simple extended"
[ -n "$prepared" ] && modes="$modes prepared"
for mode in $modes; do
	out=$("$PGBIN/pgbench" -n -M "$mode" -c 8 -j 2 -T 5 -h "$dir/socket" -p "$bouncer_port" -U app \
		-f "$dir/check.pgbench" pooltest 2>&1) || { echo "$out"; fail "pgbench -M $mode through pgbouncer"; }
	done_tx=$(echo "$out" | sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p')
	[ "${done_tx:-0}" -gt 1000 ] || { echo "$out"; fail "too few transactions with -M $mode"; }
	echo "ok: -M $mode, 8 clients, $done_tx transactions, every status as expected"
done

if [ -n "$prepared" ]; then
	# A driver that prepares every statement by name (psycopg 3 with
	# prepare_threshold = 0), 8 threads, each transaction on whatever
	# server connection PgBouncer hands out.
	DSN="host=$dir/socket port=$bouncer_port user=app dbname=pooltest" /usr/bin/python3 - <<'PY' ||
import os, threading, psycopg
errors, counts = [], []
def client(k):
    try:
        with psycopg.connect(os.environ["DSN"], prepare_threshold=0, autocommit=True) as conn:
            ok = 0
            for i in range(300):
                n = (i * 37 + k * 101) % 1000 + 1
                row = conn.execute("SELECT v.status = p.expect FROM plain p, "
                                   "LATERAL api_token_validate(p.token, %s) v WHERE p.n = %s",
                                   (["read"], n), prepare=True).fetchone()
                ok += row[0]
            counts.append(ok)
    except Exception as e:
        errors.append(repr(e))
threads = [threading.Thread(target=client, args=(k,)) for k in range(8)]
[t.start() for t in threads]; [t.join() for t in threads]
assert not errors, errors
assert counts == [300] * 8, counts
print(f"ok: psycopg 3 preparing every statement, 8 threads x 300 validations, all answers right")
PY
		fail "psycopg 3 with prepared statements through pgbouncer"
else
	echo "skipped: named prepared statements (pgbench -M prepared, drivers that prepare) need PgBouncer 1.21"
fi

servers=$(psql -X -At -d pooltest -c "SELECT count(*) FROM pg_stat_activity WHERE usename = 'app'")
[ "$servers" -le 3 ] || fail "$servers server connections for 8 clients: not pooled"
echo "ok: 8 clients were served by $servers server connections"

# One client session, 200 transactions, while other clients keep the pool
# busy: it is handed different backends and every answer is still right.
"$PGBIN/pgbench" -n -M extended -c 6 -j 2 -T 8 -h "$dir/socket" -p "$bouncer_port" -U app \
	-f "$dir/check.pgbench" pooltest >/dev/null 2>&1 &
load=$!
sleep 1
session=$(for n in $(seq 1 200); do
	echo "SELECT pg_backend_pid(), v.status = p.expect FROM plain p,
	      LATERAL api_token_validate(p.token) v WHERE p.n = $((n * 5));"
done | through_bouncer)
wait $load || fail "background clients failed"
pids=$(echo "$session" | cut -d'|' -f1 | sort -u | wc -l)
wrong=$(echo "$session" | grep -vc '|t$' || true)
[ "$(echo "$session" | wc -l)" = 200 ] || fail "the session did not get 200 answers"
[ "$wrong" = 0 ] || fail "$wrong wrong answers in the pooled session"
[ "$pids" -gt 1 ] || fail "the session was always served by one backend: pooling not exercised"
echo "ok: one client session, 200 transactions on $pids different backends, all answers right"

cluster_assert_no_crash pool
echo "pgbouncer: all checks passed"
