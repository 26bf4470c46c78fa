#!/usr/bin/env bash
# The application examples, end to end, on one throwaway cluster:
# examples/fastapi (Alembic migration up, down and up again, then pytest as a
# least-privileged role) and examples/node (node --test, then the demo script).
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/lib/cluster.sh
. test/lib/packages.sh

# Debian's Python packages, not pip: the example runs with /usr/bin/python3.
ensure_packages python3-fastapi python3-sqlalchemy python3-alembic python3-psycopg2 \
	python3-httpx python3-pytest nodejs
command -v npm >/dev/null || { echo "npm not found (it comes with Node.js 18 or later)" >&2; exit 1; }
python=/usr/bin/python3

cluster_init examples
cluster_start examples
cluster_env examples
psql="psql -X -q -v ON_ERROR_STOP=1"
$psql -c "CREATE DATABASE fastapi_example" -c "CREATE DATABASE node_example"

echo "== fastapi: alembic upgrade, downgrade, upgrade"
url() { echo "postgresql+psycopg2://$1@/fastapi_example?host=$PGHOST&port=$PGPORT"; }
export ADMIN_DATABASE_URL DATABASE_URL
ADMIN_DATABASE_URL=$(url postgres)
DATABASE_URL=$(url fastapi_app)
(
	cd examples/fastapi
	$python -m alembic upgrade head
	$python -m alembic downgrade base
	left=$($psql -d fastapi_example -At -c "SELECT string_agg(relname, ' ') FROM pg_class
		WHERE relnamespace = 'public'::regnamespace AND relname NOT LIKE 'alembic_version%'")
	[ -z "$left" ] || { echo "FAIL: downgrade left: $left" >&2; exit 1; }
	echo "ok: downgrade removed every table and index"
	$python -m alembic upgrade head
)
# The login role the API runs as: a member of the role the migration granted to.
$psql -d fastapi_example -c "CREATE ROLE fastapi_app LOGIN IN ROLE tokens_app"

echo "== fastapi: pytest"
(cd examples/fastapi && $python -m pytest -v)

echo "== node: npm ci, node --test, index.js"
(
	cd examples/node
	npm ci --no-audit --no-fund --loglevel=error
	PGDATABASE=node_example node --test
	PGDATABASE=node_example node index.js
)

cluster_assert_no_crash examples
echo "examples: all checks passed"
