#!/usr/bin/env bash
# versions: 15 17 18
# api_tokens_pre_request behind PostgREST, end to end.  PostgREST is not in
# the Debian archives, so its per-request transactions are replayed exactly
# (test/scripts/postgrest_replay.py), over psycopg 3 with every value a
# parameter bound on the server, connected as authenticator:
#
#   BEGIN ISOLATION LEVEL READ COMMITTED READ ONLY;   (READ WRITE for a POST)
#   SELECT set_config('search_path', $1, true), set_config('role', $2, true),
#          set_config('request.jwt.claims', $3, true), ..., set_config('request.headers', $6, true), ...;
#   SELECT "auth"."api_tokens_pre_request"();
#   WITH pgrst_source AS (...) SELECT ... json_agg(_postgrest_t) AS body ...;
#   COMMIT;
#
# against the setup docs/rls-postgrest.md gives (roles authenticator, anon
# and web_user, a notes table with Row Level Security).  It shows that: a token
# in Authorization: Bearer or x-api-key yields exactly its user's rows; no
# token is an anonymous request; a revoked, malformed or unknown token fails
# with PT401 (HTTP 401) without the token in the error; nothing carries over
# to the next transaction of a pooled connection; the INSERT policy holds for
# POST; forged settings authenticate nothing; the least privileges the
# request roles need; what STABLE and PARALLEL RESTRICTED give a policy's
# plan; the same GETs work on a streaming hot standby, which logs no attempt
# to write; and neither server's log contains a token.
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/lib/packages.sh
ensure_packages python3-psycopg
. test/lib/cluster.sh
. test/lib/checks.sh
. test/lib/standby.sh

# replay NODE: the replayed requests against NODE (primary or standby).
replay() {
	(cluster_env "$1"; /usr/bin/python3 test/scripts/postgrest_replay.py "$1")
}

cluster_init primary
cluster_configure primary "$primary_settings"
cluster_start primary

# The setup, as docs/rls-postgrest.md shows it (its blocks, read from the
# page), then what this test adds: EXECUTE on the two context functions the
# policies do not call, to show they need nothing more.
block() { /usr/bin/python3 test/lib/doc_blocks.py extract docs/rls-postgrest.md "$1"; }
psql_on primary >/dev/null <<<"$(block postgrest-setup)"
psql_on primary >/dev/null <<<"$(block postgrest-app-role)"
psql_on primary >/dev/null <<'SQL'
GRANT EXECUTE ON FUNCTION auth.api_token_current_token(), auth.api_token_current_scopes() TO anon, web_user;
SQL

# The fixture: alice (notes:read, notes:write), bob (notes:read), a revoked
# token, an unknown one (well-formed, never issued) and a malformed one.
export ALICE_ID=00000000-0000-0000-0000-0000000000a1 BOB_ID=00000000-0000-0000-0000-0000000000b0
psql_on primary >/dev/null <<SQL
INSERT INTO auth.users VALUES ('$ALICE_ID', 'alice@example.com'), ('$BOB_ID', 'bob@example.com');
INSERT INTO public.notes (owner_id, body) VALUES
    ('$ALICE_ID', 'alice 1'), ('$ALICE_ID', 'alice 2'), ('$BOB_ID', 'bob 1');
SQL
ALICE_TOKEN=$(psql_on primary -c \
	"SELECT token FROM auth.api_token_create('$ALICE_ID', 'alice', '{notes:read,notes:write}')")
BOB_TOKEN=$(psql_on primary -c "SELECT token FROM auth.api_token_create('$BOB_ID', 'bob', '{notes:read}')")
REVOKED_TOKEN=$(psql_on primary -c "SELECT token FROM auth.api_token_create('$ALICE_ID', 'revoked', '{notes:read}')")
expect "revoke the third token" t \
	"$(psql_on primary -c "SELECT auth.api_token_revoke(id) FROM auth.api_tokens WHERE name = 'revoked'")"
UNKNOWN_TOKEN=$(psql_on primary -c "SELECT auth.api_token_generate()")
# Alice's token with its last character changed: the checksum fails.
MALFORMED_TOKEN=${ALICE_TOKEN%?}$([ "${ALICE_TOKEN: -1}" = A ] && echo B || echo A)
expect "the malformed token is malformed" f \
	"$(psql_on primary -c "SELECT auth.api_token_is_wellformed('$MALFORMED_TOKEN')")"
export ALICE_TOKEN BOB_TOKEN REVOKED_TOKEN UNKNOWN_TOKEN MALFORMED_TOKEN

# The standby: a base backup of the primary, streaming from its socket.
standby_create primary standby

replay primary
wait_for_replay primary standby
replay standby

# The standby answered every request without trying to write: its only
# errors are the expected PT401s.
standby_log=$(cluster_log standby)
grep -qF "invalid API token" "$standby_log" || fail "the standby logged no PT401 at all"
grep -E "ERROR|FATAL|PANIC|WARNING" "$standby_log" | grep -vF "ERROR:  invalid API token" &&
	fail "the standby logged errors other than the expected PT401s"
grep -iE "read-only transaction|recovery is in progress|cannot execute" "$standby_log" &&
	fail "the standby logged an attempt to write"
echo "ok: standby log: only the PT401s, no attempt to write"

# No token anywhere in either server's log.
for node in primary standby; do
	for token in "$ALICE_TOKEN" "$BOB_TOKEN" "$REVOKED_TOKEN" "$UNKNOWN_TOKEN" "$MALFORMED_TOKEN"; do
		grep -qF -- "$token" "$(cluster_log "$node")" && fail "a token is in the $node's log"
	done
	cluster_assert_no_crash "$node"
done
echo "ok: no token in the primary's or the standby's log"
echo "postgrest_replay: all checks passed"
