#!/usr/bin/env bash
# versions: 15
# The application examples, end to end, on one throwaway cluster:
#
# examples/fastapi: the Alembic migrations: up to 0002 (extension 1.0), a
# token issued there, up to 0004 (0003 updates the extension to 1.1), down
# to 0002, up to head (0005 updates it to 1.2), down to 0004, down to base
# and up again; pytest as a least-privileged role whose
# every statement the server logs (Hypothesis property tests included); the
# application served by uvicorn with two workers, trusting 127.0.0.2 as a
# proxy: tests/test_served.py against it (sessions across workers, a burst
# of bad logins, forwarded HTTPS), then the pages in headless Chromium
# (playwright-core from npm), and a signed secret-scanning report; then both
# workers must have served requests, and no plaintext token, nor its hash,
# may be in the server's or the application's log.
# examples/node: node --test, then the demo script.
#
# The server preloads the library (shared_preload_libraries), as a
# deployment that rate-limits tokens must: rate limits are counted in shared
# memory, and so are credits and last uses, written every
# api_tokens.flush_interval (1 s here).
#
# Screenshots of every page go to the output directory it prints (a new
# temporary directory, or $EXAMPLES_OUT_DIR).  EXAMPLES_UPDATE_SCREENSHOTS=1
# also copies those of the user page (at 1280 px and at a phone's 390 px),
# the new-token and replacement-token pages, the admin page and a token's
# limits page to examples/fastapi/docs/, which the example's README shows.
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/lib/cluster.sh
. test/lib/packages.sh

started=$SECONDS
# Debian's Python packages, not pip: the example runs with /usr/bin/python3.
ensure_packages python3-fastapi python3-sqlalchemy python3-alembic python3-psycopg2 python3-asyncpg \
	python3-greenlet python3-jinja2 python3-multipart python3-cryptography \
	python3-httpx python3-pytest python3-hypothesis python3-uvicorn nodejs chromium fonts-dejavu-core
# Debian's nodejs comes without npm; NodeSource's includes it.
command -v npm >/dev/null || ensure_packages npm
node_major=$(node -p 'process.versions.node.split(".")[0]')
[ "$node_major" -ge 18 ] || { echo "Node.js 18 or later is needed, not $(node --version)" >&2; exit 1; }
python=/usr/bin/python3

out=${EXAMPLES_OUT_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/api_tokens-examples.XXXXXX")}
mkdir -p "$out"
echo "output directory: $out"

server_pid=""
stop_server() {
	if [ -n "$server_pid" ]; then
		kill "$server_pid" 2>/dev/null || true
		wait "$server_pid" 2>/dev/null || true
		server_pid=""
	fi
}
trap 'stop_server; cluster_cleanup' EXIT

cluster_init examples
cluster_configure examples "
shared_preload_libraries = 'api_tokens'
api_tokens.flush_interval = 1
"
cluster_start examples
cluster_env examples
server_log=$(cluster_log examples)
psql="psql -X -q -v ON_ERROR_STOP=1"
$psql -c "CREATE DATABASE fastapi_example" -c "CREATE DATABASE node_example"

echo "== fastapi: alembic upgrade, downgrade, upgrade"
url() { echo "postgresql+$1://$2@/fastapi_example?host=$PGHOST&port=$PGPORT"; }
export ADMIN_DATABASE_URL DATABASE_URL SESSION_SECRET
ADMIN_DATABASE_URL=$(url psycopg2 postgres) # migrations and bootstrap: they send no token
DATABASE_URL=$(url asyncpg fastapi_app)     # the application: binds parameters on the server
SESSION_SECRET=$($python -c 'import secrets; print(secrets.token_urlsafe(32))')
extversion() { $psql -d fastapi_example -At -c "SELECT extversion FROM pg_extension WHERE extname = 'api_tokens'"; }
# What the group role tokens_app may do, and the status of a token validated
# as that role (through asyncpg: the token is a bound parameter, so never in
# the server log).
app_can() {
	$psql -d fastapi_example -At -c "SELECT has_function_privilege('tokens_app', 'api_tokens.$1', 'EXECUTE')"
}
validated_as_app() {
	$python - "$1" <<-EOF
	import asyncio, asyncpg, os, sys
	async def main():
	    conn = await asyncpg.connect(host=os.environ["PGHOST"], port=os.environ["PGPORT"],
	                                 user="postgres", database="fastapi_example")
	    await conn.execute("SET ROLE tokens_app")
	    print(await conn.fetchval("SELECT status FROM api_tokens.api_token_validate(\$1::text, NULL::text[])",
	                              sys.argv[1]))
	    await conn.close()
	asyncio.run(main())
	EOF
}
(
	cd examples/fastapi
	# A database at revision 0002 (extension 1.0) with a token in it, moved
	# to 1.1 by migration 0003, as a deployed one would be.
	$python -m alembic upgrade 0002
	[ "$(extversion)" = 1.0 ] || { echo "FAIL: 0001 installed version $(extversion), not 1.0" >&2; exit 1; }
	printf '%s\n' "$($python -m app.bootstrap before-1.1@example.com --name "issued at 1.0" 2>/dev/null)" \
		>"$out/migration-token.txt"
	$python -m alembic upgrade 0004
	token=$(cat "$out/migration-token.txt")
	{ [ "$(extversion)" = 1.1 ] && [ "$(validated_as_app "$token")" = valid ] &&
		[ "$(app_can 'api_token_rotate(uuid, interval, timestamptz)')" = t ] &&
		[ "$(app_can 'api_token_successor(uuid)')" = t ]; } ||
		{ echo "FAIL: after 0003: version $(extversion), token $(validated_as_app "$token")" >&2; exit 1; }
	echo "ok: 0003 updated the extension to 1.1; a token issued at 1.0 still validates; rotate's grant carried over"
	# The extension cannot go back to 1.0: downgrading 0003 only takes back its grants.
	$python -m alembic downgrade 0002
	{ [ "$(extversion)" = 1.1 ] && [ "$(validated_as_app "$token")" = valid ] &&
		[ "$(app_can 'api_token_successor(uuid)')" = f ] &&
		[ "$(app_can 'api_token_rotate(uuid, interval, timestamptz)')" = t ]; } ||
		{ echo "FAIL: after downgrading 0003: version $(extversion), token $(validated_as_app "$token")" >&2; exit 1; }
	echo "ok: downgrading 0003 left the extension at 1.1 and took back its grants"
	# 0005 moves it to 1.2; downgrading 0005, as 0003, only takes back its grants.
	$python -m alembic upgrade head
	{ [ "$(extversion)" = 1.2 ] && [ "$(validated_as_app "$token")" = valid ] &&
		[ "$(app_can 'api_token_verify(text, text[], inet, integer)')" = t ] &&
		[ "$(app_can 'api_token_set_credits(uuid, bigint, bigint, interval)')" = t ] &&
		[ "$(app_can 'api_token_successor(uuid)')" = t ]; } ||
		{ echo "FAIL: after 0005: version $(extversion), token $(validated_as_app "$token")" >&2; exit 1; }
	echo "ok: 0005 updated the extension to 1.2; the token issued at 1.0 still validates"
	$python -m alembic downgrade 0004
	{ [ "$(extversion)" = 1.2 ] && [ "$(validated_as_app "$token")" = valid ] &&
		[ "$(app_can 'api_token_verify(text, text[], inet, integer)')" = f ] &&
		[ "$(app_can 'api_token_set_credits(uuid, bigint, bigint, interval)')" = f ] &&
		[ "$(app_can 'api_token_successor(uuid)')" = t ]; } ||
		{ echo "FAIL: after downgrading 0005: version $(extversion), token $(validated_as_app "$token")" >&2; exit 1; }
	echo "ok: downgrading 0005 left the extension at 1.2 and took back its grants"
	$python -m alembic upgrade head
	$python -m alembic downgrade base
	left=$($psql -d fastapi_example -At -c "SELECT string_agg(relname, ' ') FROM pg_class
		WHERE relnamespace = 'public'::regnamespace AND relname NOT LIKE 'alembic_version%'
		UNION ALL SELECT string_agg(nspname, ' ') FROM pg_namespace WHERE nspname = 'api_tokens'")
	[ -z "${left//[[:space:]]/}" ] || { echo "FAIL: downgrade left: $left" >&2; exit 1; }
	echo "ok: downgrade to base removed every table and index, the extension's own included, and its schema"
	$python -m alembic upgrade head
)
# The login role the API runs as: a member of the role the migrations grant
# to.  The server logs all its statements, as a deployment that audits them
# would (with parameters kept out, as the extension's README advises): the
# tests check that no token appears there.
$psql -d fastapi_example -c "CREATE ROLE fastapi_app LOGIN IN ROLE tokens_app" \
	-c "ALTER ROLE fastapi_app SET log_statement = 'all'" \
	-c "ALTER ROLE fastapi_app SET log_parameter_max_length = 0"

echo "== fastapi: pytest"
(cd examples/fastapi && PG_SERVER_LOG=$server_log $python -m pytest -v)

echo "== fastapi: uvicorn, two workers"
cd examples/fastapi
user_email=alice@example.com
user_password=$($python -c 'import secrets; print(secrets.token_urlsafe(12))')
admin_email=admin@example.com
admin_password=$($python -c 'import secrets; print(secrets.token_urlsafe(12))')
user_token=$(printf '%s\n' "$user_password" | $python -m app.bootstrap "$user_email" --password-stdin 2>/dev/null)
printf '%s\n' "$admin_password" | $python -m app.bootstrap "$admin_email" --admin --password-stdin --no-token 2>/dev/null

# A key pair in place of GitHub's secret-scanning key.
$python - "$out" <<'EOF'
import json, sys
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
key = ec.generate_private_key(ec.SECP256R1())
open(f"{sys.argv[1]}/scanning-private.pem", "wb").write(key.private_bytes(
    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
pem = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
json.dump({"public_keys": [{"key_identifier": "test-key", "key": pem.decode(), "is_current": True}]},
          open(f"{sys.argv[1]}/scanning-keys.json", "w"))
EOF

# Everything the application logs, SQLAlchemy's engine at DEBUG included.
cat >"$out/logging.ini" <<'EOF'
[loggers]
keys = root,sqlalchemy
[handlers]
keys = stderr
[formatters]
keys = plain
[logger_root]
level = INFO
handlers = stderr
[logger_sqlalchemy]
level = DEBUG
handlers =
qualname = sqlalchemy.engine
[handler_stderr]
class = StreamHandler
args = (sys.stderr,)
formatter = plain
[formatter_plain]
format = %(asctime)s %(levelname)s [%(name)s] [pid %(process)d] %(message)s
EOF

port=$($python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
base=http://127.0.0.1:$port
# Two workers: a session made in one must be known to the other.  The
# application reads forwarding headers itself, from TRUSTED_PROXIES only
# (uvicorn's own would believe any client on 127.0.0.1).
SECRET_SCANNING_KEYS_FILE=$out/scanning-keys.json TRUSTED_PROXIES=127.0.0.2 \
	$python -m uvicorn app.main:app --host 127.0.0.1 --port "$port" --workers 2 --no-proxy-headers \
	--log-config "$out/logging.ini" >"$out/uvicorn.log" 2>&1 &
server_pid=$!
for _ in $(seq 100); do
	$python -c "import urllib.request; urllib.request.urlopen('$base/login', timeout=1)" 2>/dev/null && break
	kill -0 "$server_pid" 2>/dev/null || { cat "$out/uvicorn.log" >&2; echo "FAIL: uvicorn exited" >&2; exit 1; }
	sleep 0.1
done

echo "== fastapi: the served application (two workers)"
SERVED_BASE_URL=$base $python -m pytest -q tests/test_served.py

echo "== fastapi: the pages in Chromium"
(
	cd browser
	PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error
	BASE_URL=$base OUT_DIR=$out USER_EMAIL=$user_email USER_PASSWORD=$user_password \
		ADMIN_EMAIL=$admin_email ADMIN_PASSWORD=$admin_password USER_BOOTSTRAP_TOKEN=$user_token \
		node --test pages.test.mjs
)

echo "== fastapi: a signed secret-scanning report to the server"
report_token=$($python -m app.bootstrap scanned@example.com --name leaked 2>/dev/null)
echo "$report_token" >>"$out/tokens-seen.txt"
cat "$out/migration-token.txt" >>"$out/tokens-seen.txt"
$python - "$base" "$out" "$report_token" <<'EOF'
import base64, json, sys, urllib.error, urllib.request
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
base, out, token = sys.argv[1:]
key = serialization.load_pem_private_key(open(f"{out}/scanning-private.pem", "rb").read(), None)
body = json.dumps([{"token": token, "type": "pat", "url": "https://example.com/x", "source": "content"},
                   {"token": "pat_not-ours", "type": "pat", "url": "https://example.com/x", "source": "content"}]).encode()
def post(signature):
    request = urllib.request.Request(f"{base}/secret-scanning/report", data=body, method="POST", headers={
        "Content-Type": "application/json", "Github-Public-Key-Identifier": "test-key",
        "Github-Public-Key-Signature": signature})
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as e:
        return e.code, None
forged = base64.b64encode(ec.generate_private_key(ec.SECP256R1()).sign(body, ec.ECDSA(hashes.SHA256()))).decode()
assert post(forged)[0] == 401, "a report signed with another key was accepted"
status, answer = post(base64.b64encode(key.sign(body, ec.ECDSA(hashes.SHA256()))).decode())
assert status == 200, status
assert [a["label"] for a in answer] == ["true_positive", "false_positive"], answer
request = urllib.request.Request(f"{base}/tokens", headers={"Authorization": f"Bearer {token}"})
try:
    urllib.request.urlopen(request)
    raise AssertionError("the reported token still works")
except urllib.error.HTTPError as e:
    assert e.code == 401, e.code
print("ok: forged report refused (401); signed report: true_positive and false_positive; the reported token is revoked")
EOF
stop_server
cd ../..
workers=$(grep -E '"(GET|POST) /settings/tokens' "$out/uvicorn.log" | grep -oE '\[pid [0-9]+\]' | sort -u | wc -l)
[ "$workers" -ge 2 ] || { echo "FAIL: requests were served by $workers worker(s), not 2" >&2; exit 1; }
echo "ok: requests to the pages were served by both workers"

echo "== fastapi: no token or hash in any log"
seen=$(grep -c . "$out/tokens-seen.txt")
[ "$seen" -ge 5 ] || { echo "FAIL: only $seen tokens recorded" >&2; exit 1; }
$python - "$out/tokens-seen.txt" >"$out/hashes-seen.txt" <<'EOF'
import hashlib, sys
for line in open(sys.argv[1]):
    if line.strip():
        print(hashlib.sha256(line.strip().encode()).hexdigest())
EOF
# shellcheck disable=SC2016 # $1, $2, ...: the statement's parameters
grep -qF 'api_tokens.api_token_verify(CAST($1 AS text), CAST($2 AS text[]), CAST($3 AS inet), CAST($4 AS integer))' \
	"$server_log" ||
	{ echo "FAIL: the server log has no statement of the application" >&2; exit 1; }
{ grep -q 'GET /settings/tokens' "$out/uvicorn.log" && grep -q 'sqlalchemy.engine' "$out/uvicorn.log"; } ||
	{ echo "FAIL: the application's log is missing requests or SQL" >&2; exit 1; }
for log in "$server_log" "$out/uvicorn.log"; do
	if grep -F -f "$out/tokens-seen.txt" -f "$out/hashes-seen.txt" "$log" ||
		grep -E '(^|[^0-9A-Za-z])pat_[0-9A-Za-z]{36}([^0-9A-Za-z]|$)' "$log"; then
		echo "FAIL: a token or its hash is in $log" >&2
		exit 1
	fi
done
echo "ok: none of the $seen tokens seen, nor their hashes, in the server log ($(grep -c . "$server_log") lines) or the application's ($(grep -c . "$out/uvicorn.log") lines)"

if [ "${EXAMPLES_UPDATE_SCREENSHOTS:-}" = 1 ]; then
	cp "$out/tokens.png" "$out/tokens-phone.png" "$out/token-created.png" "$out/token-rotated.png" "$out/admin.png" \
		"$out/token-limits.png" examples/fastapi/docs/
	echo "copied the screenshots to examples/fastapi/docs/"
fi

echo "== node: npm ci, node --test, index.js"
(
	cd examples/node
	npm ci --no-audit --no-fund --loglevel=error
	PGDATABASE=node_example node --test
	PGDATABASE=node_example node index.js
)

cluster_assert_no_crash examples
echo "screenshots: $out/*.png"
echo "examples: all checks passed in $((SECONDS - started)) s"
