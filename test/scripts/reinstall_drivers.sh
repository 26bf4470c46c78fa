#!/usr/bin/env bash
# versions: 15 17 18
# DROP EXTENSION and CREATE EXTENSION again (to repair an installation, or
# to move it to another schema) keep every token and its history, but give
# the functions and the result type api_token_validation new OIDs.  With a
# real driver, psycopg 3 preparing every statement, on a connection opened
# before the reinstall:
#
# - the documented call, which names the result's columns, keeps working
#   (the server plans it again; its result has the same columns);
# - a call that returns the bare composite fails with 0A000 "cached plan must
#   not change result type", which is why the documentation says to name the
#   columns;
# - a table column of the composite type blocks DROP EXTENSION (2BP01): a
#   stored result is the application's data, and CASCADE would drop it.
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/lib/cluster.sh
. test/lib/checks.sh
. test/lib/packages.sh
ensure_packages python3-psycopg

cluster_init drivers
cluster_start drivers
cluster_env drivers
psql_on drivers >/dev/null <<'SQL'
CREATE TABLE public.users (id uuid PRIMARY KEY);
CREATE SCHEMA api_tokens;
SET api_tokens.users_table = 'public.users';
CREATE EXTENSION api_tokens SCHEMA api_tokens;
INSERT INTO public.users VALUES ('00000000-0000-0000-0000-000000000001');
CREATE TABLE public.issued AS
  SELECT token FROM api_tokens.api_token_create('00000000-0000-0000-0000-000000000001'::uuid, 'driver'::text);
SQL

/usr/bin/python3 - <<'PY'
import os
import psycopg

conninfo = f"host={os.environ['PGHOST']} port={os.environ['PGPORT']} user=postgres dbname=postgres"
columns = ("SELECT status, token_id, user_id, scopes"
           "  FROM api_tokens.api_token_validate(%s::text, %s::text[])")
composite = "SELECT api_tokens.api_token_validate(%s::text, %s::text[])"


def ok(what):
    print(f"ok: {what}")


with psycopg.connect(conninfo, autocommit=True, prepare_threshold=0) as app, \
        psycopg.connect(conninfo, autocommit=True) as admin:
    token = admin.execute("SELECT token FROM public.issued").fetchone()[0]
    assert app.execute(columns, (token, None)).fetchone()[0] == "valid"
    assert app.execute(composite, (token, None)).fetchone()[0] is not None
    ok("both forms, prepared, before the reinstall")

    admin.execute("DROP EXTENSION api_tokens")
    admin.execute("SET api_tokens.users_table = 'public.users'")
    admin.execute("CREATE EXTENSION api_tokens SCHEMA api_tokens")
    ok("DROP EXTENSION and CREATE EXTENSION, on another connection")

    for _ in range(3):
        assert app.execute(columns, (token, None)).fetchone()[0] == "valid"
    ok("the column form keeps working on the connection prepared before")

    try:
        app.execute(composite, (token, None)).fetchone()
    except psycopg.errors.FeatureNotSupported as e:
        assert e.sqlstate == "0A000" and "cached plan must not change result type" in str(e), e
        ok("the bare composite fails with 0A000, as documented")
    else:
        raise SystemExit("FAIL: the bare composite was expected to fail after a reinstall")

    admin.execute("CREATE TABLE public.audit (v api_tokens.api_token_validation)")
    try:
        admin.execute("DROP EXTENSION api_tokens")
    except psycopg.errors.DependentObjectsStillExist as e:
        assert "column v of table audit depends on type api_tokens.api_token_validation" in e.diag.message_detail, e
        ok("a stored composite column blocks DROP EXTENSION (2BP01)")
    else:
        raise SystemExit("FAIL: DROP EXTENSION should have been refused")
PY

cluster_assert_no_crash drivers
echo "reinstall_drivers: all checks passed"
