#!/usr/bin/env bash
# versions: 15 17 18
# Attacks on a standby's forwarding of uses, by the primary's database owner
# (not a superuser), with a real streaming standby:
#
# attack_forward_as_superuser: pg_basebackup -R writes primary_conninfo with
#   user=postgres, and forwarding once connected with it: whatever the call
#   resolved to ran as a superuser.  The standby now refuses to forward as a
#   superuser, says so, and keeps the uses.
# attack_schema_rename_on_primary: while the standby's replay lags (paused
#   here), the owner renames schema public on the primary, creates another
#   public with an api_tokens_record_uses of her own, and waits for the
#   standby to call it by the name it still knows.  The standby now names
#   the function by OID, the primary says where it is, and the call is made
#   only in a schema that only superusers own and write: here it is
#   refused, and the planted function never runs.
# In a schema a superuser owns (the recommended layout), forwarding works,
# and the owner can neither rename it nor plant anything in it.
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/lib/cluster.sh
. test/lib/checks.sh
. test/lib/standby.sh

on_failure() {
	for node in primary standby; do
		echo "-- the $node's log, last lines:"
		tail -n 25 "$(cluster_log $node)" || true
	done
}
use_on_standby() { # use_on_standby DB N: validates token N of DB on the standby, every use due
	PGOPTIONS="-c api_tokens.last_used_interval=0" psql_on standby -d "$1" \
		-c "SELECT status FROM $2.api_token_validate((SELECT token FROM public.issued WHERE n = $3)::text, NULL::text[])"
}
written() { # written SCHEMA N: on the primary, last_used_at of token N is set
	echo "SELECT last_used_at IS NOT NULL FROM $1.api_tokens a JOIN public.issued i ON i.token_id = a.id WHERE n = $2"
}
standby_error() {
	echo "SELECT last_error LIKE '%$1%' AND pending >= 1 FROM api_tokens_last_use_state()"
}

cluster_init primary
cluster_configure primary "$primary_settings
shared_preload_libraries = 'api_tokens'
api_tokens.flush_interval = 1
"
cluster_start primary
psql_on primary >/dev/null <<'SQL'
CREATE ROLE dbowner LOGIN;
CREATE ROLE forwarder LOGIN;
CREATE DATABASE app OWNER dbowner;
CREATE DATABASE safe OWNER dbowner;
SET client_min_messages = error;
CREATE EXTENSION api_tokens;  -- in postgres, for the state function
SQL
# app: the extension in public, which dbowner owns; safe: in a schema of postgres's.
psql_on primary -d app >/dev/null <<'SQL'
SET client_min_messages = error;
CREATE TABLE public.users (id uuid PRIMARY KEY);
CREATE EXTENSION api_tokens;
GRANT EXECUTE ON FUNCTION public.api_tokens_record_uses(uuid[], timestamptz[]) TO forwarder;
INSERT INTO public.users VALUES ('00000000-0000-0000-0000-000000000001');
CREATE TABLE public.issued AS
  SELECT n, c.* FROM generate_series(1, 10) n,
       LATERAL public.api_token_create('00000000-0000-0000-0000-000000000001'::uuid, ('token ' || n)::text) c;
ALTER TABLE public.issued OWNER TO dbowner;
SQL
psql_on primary -d safe >/dev/null <<'SQL'
CREATE TABLE public.users (id uuid PRIMARY KEY);
CREATE SCHEMA api_tokens;
SET api_tokens.users_table = 'public.users';
CREATE EXTENSION api_tokens SCHEMA api_tokens;
GRANT USAGE ON SCHEMA api_tokens TO forwarder;
GRANT EXECUTE ON FUNCTION api_tokens.api_tokens_record_uses(uuid[], timestamptz[]) TO forwarder;
INSERT INTO public.users VALUES ('00000000-0000-0000-0000-000000000001');
CREATE TABLE public.issued AS
  SELECT n, c.* FROM generate_series(1, 10) n,
       LATERAL api_tokens.api_token_create('00000000-0000-0000-0000-000000000001'::uuid, ('token ' || n)::text) c;
SQL

# As pg_basebackup -R leaves it: primary_conninfo with user=postgres.
standby_create primary standby
grep -q "user=postgres" "$(cluster_dir standby)/data/postgresql.auto.conf" ||
	fail "pg_basebackup -R did not write user=postgres"

echo "== attack_forward_as_superuser"
expect "valid on the standby" valid "$(use_on_standby app public 1)"
wait_for "the standby refuses to forward as a superuser" 10 standby "$(standby_error 'refusing to forward as a superuser')"
expect "not written on the primary" f "$(psql_on primary -d app -c "$(written public 1)")"

echo "== attack_schema_rename_on_primary"
psql_on standby >/dev/null <<SQL
ALTER SYSTEM SET api_tokens.forward_conninfo =
  'host=$(cluster_dir primary)/socket port=$(cluster_port primary) user=forwarder';
SELECT pg_reload_conf();
SQL
# The standby stops replaying: it keeps seeing the catalog of before.
psql_on standby -c "SELECT pg_wal_replay_pause()" >/dev/null
psql_on primary -d app >/dev/null <<'SQL'
SET ROLE dbowner;
ALTER SCHEMA public RENAME TO public_old;
CREATE SCHEMA public;
CREATE TABLE public.ran (at timestamptz);
GRANT INSERT ON public.ran TO PUBLIC;
GRANT USAGE ON SCHEMA public TO PUBLIC;
CREATE FUNCTION public.api_tokens_record_uses(uuid[], timestamptz[]) RETURNS integer
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO public.ran VALUES (now());
    ALTER ROLE dbowner SUPERUSER;
    RETURN 0;
END $$;
SQL
expect "the standby still knows schema public as the extension's" public \
	"$(psql_on standby -d app -c "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE extname = 'api_tokens'")"
expect "valid on the standby" valid "$(use_on_standby app public 2)"
wait_for "the forward is refused: the schema is not a superuser's" 10 standby \
	"$(standby_error 'is owned, or may be written into, by a role that is not a superuser')"
expect "the planted function never ran" 0 "$(psql_on primary -d app -c "SELECT count(*) FROM public.ran")"
expect "dbowner is not a superuser" f "$(psql_on primary -c "SELECT rolsuper FROM pg_roles WHERE rolname = 'dbowner'")"
psql_on standby -c "SELECT pg_wal_replay_resume()" >/dev/null
wait_for_replay primary standby

echo "== forwarding into a schema of a superuser's"
expect "valid on the standby" valid "$(use_on_standby safe api_tokens 1)"
deadline=$((SECONDS + 10))
until [ "$(psql_on primary -d safe -c "$(written api_tokens 1)" 2>/dev/null || true)" = t ]; do
	[ $SECONDS -lt $deadline ] || fail "the use in safe is not written on the primary"
	sleep 0.1
done
echo "ok: the use in safe is written on the primary"
renamed=$(psql_on primary -d safe -c "SET ROLE dbowner" -c "ALTER SCHEMA api_tokens RENAME TO mine" 2>&1 || true)
grep -q "must be owner of schema api_tokens" <<<"$renamed" || fail "dbowner could rename the extension's schema"
echo "ok: the database owner cannot rename a schema of a superuser's"

# Nothing secret in either log.
for node in primary standby; do
	for table in app.public_old.issued safe.public.issued; do
		for n in 1 2; do
			t=$(psql_on primary -d "${table%%.*}" -c "SELECT token FROM ${table#*.} WHERE n = $n")
			grep -qF "$t" "$(cluster_log $node)" && fail "a token in the $node's log"
		done
	done
done
echo "ok: no token in either log"
cluster_assert_no_crash primary
cluster_assert_no_crash standby
echo "standby_attacks: all checks passed"
