#!/usr/bin/env bash
# versions: 15 17 18
# attack_token_in_server_log: where a presented token can end up in the
# server's log, through a real driver (psycopg 3, which binds parameters on
# the server).  Each claim of the README's "Tokens and the server log"
# section is checked here, in both directions: what must not appear does
# not, and what the README warns about does appear, so that the warning
# stays true.
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/lib/packages.sh
ensure_packages python3-psycopg
. test/lib/cluster.sh

cluster_init logs
cluster_configure logs "shared_preload_libraries = 'pg_stat_statements'"
cluster_start logs
cluster_env logs
log=$(cluster_log logs)

fail() { echo "FAIL: $*" >&2; exit 1; }

psql -X -q -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
CREATE TABLE users (id uuid PRIMARY KEY);
CREATE EXTENSION api_tokens;
CREATE EXTENSION pg_stat_statements;
INSERT INTO users VALUES ('00000000-0000-0000-0000-000000000001');
SQL
token=$(psql -X -At -c "SELECT token FROM api_token_create('00000000-0000-0000-0000-000000000001', 'logged')")

# Debian's Python, with Debian's psycopg.
# run_case NAME SETTINGS MODE: one failing validation (a NULL required
# scope) with the token as a parameter, under session settings SETTINGS;
# MODE is "server" (bound on the server) or "client" (psycopg's
# ClientCursor, which interpolates like psycopg2).  Prints the log lines
# the call added.
run_case() {
	local before
	before=$(wc -l <"$log")
	TOKEN=$token SETTINGS=$2 MODE=$3 /usr/bin/python3 - <<'PY'
import os, psycopg
with psycopg.connect("") as conn:
    for setting in filter(None, os.environ["SETTINGS"].split(";")):
        conn.execute(setting)
    cur = psycopg.ClientCursor(conn) if os.environ["MODE"] == "client" else conn.cursor()
    try:
        cur.execute("SELECT status FROM api_token_validate(%s, %s)",
                    (os.environ["TOKEN"], ["read", None]))
        raise SystemExit("the call was expected to fail")
    except psycopg.errors.NullValueNotAllowed:
        pass
PY
	sleep 0.3 # the logging collector is off: lines are written synchronously, this is margin
	tail -n +"$((before + 1))" "$log"
}

contains_token() { grep -qF -- "$token"; }

out=$(run_case defaults "" server)
echo "$out" | grep -q "required_scopes must not contain NULL" || fail "the failing call left no error in the log"
echo "$out" | contains_token && fail "server-side parameters, default settings: the token is in the log"
echo "ok: bound parameter, default settings: the failing statement is logged, the token is not"

out=$(run_case client "" client)
echo "$out" | contains_token || fail "client-side interpolation: expected the token in the logged statement"
echo "ok: client-side interpolation (psycopg2 style): the token is in the logged statement"

out=$(run_case log_all "SET log_statement = 'all'" server)
# shellcheck disable=SC2016 # $1: the statement's parameter
echo "$out" | grep -qi 'parameters: \$1 = ' || fail "log_statement = all: expected the parameters line"
echo "$out" | contains_token || fail "log_statement = all: expected the token among the logged parameters"
echo "ok: log_statement = all logs bound parameters, the token with them"

out=$(run_case log_all_no_params "SET log_statement = 'all';SET log_parameter_max_length = 0" server)
echo "$out" | grep -q "api_token_validate" || fail "log_statement = all: expected the statement in the log"
echo "$out" | contains_token && fail "log_parameter_max_length = 0: the token is still in the log"
echo "ok: log_statement = all with log_parameter_max_length = 0: no token"

out=$(run_case params_on_error "SET log_parameter_max_length_on_error = -1" server)
echo "$out" | contains_token || fail "log_parameter_max_length_on_error = -1: expected the token"
echo "ok: log_parameter_max_length_on_error = -1 logs the token of a failing call"

# pg_stat_statements keeps normalized text: a token written as a literal
# is replaced by a placeholder.
psql -X -q -c "SELECT status FROM api_token_validate('$token')" >/dev/null
psql -X -At -c "SELECT query FROM pg_stat_statements" | contains_token &&
	fail "pg_stat_statements kept the token"
# shellcheck disable=SC2016 # $1: the statement's parameter
psql -X -At -c "SELECT query FROM pg_stat_statements" | grep -q 'api_token_validate(\$1)' ||
	fail "pg_stat_statements: expected the normalized statement"
echo "ok: pg_stat_statements stores the statement normalized, without the literal token"

# Nothing the extension itself writes carries the token.
grep -F -- "$token" "$log" | grep -viE "STATEMENT:|DETAIL:  parameters:|LOG:  statement:|CONTEXT:  unnamed portal" &&
	fail "a log line other than a logged statement or its parameters contains the token"
cluster_assert_no_crash logs
echo "secret_logging: all checks passed"
