#!/usr/bin/env bash
# versions: 15 17 18
# pg_dump + restore into an empty database keeps every token, the foreign
# key, the indexes, the defaults and the privileges, in plain and custom
# formats, and the restored tokens still validate; the history tables
# (rotations and events) come back with every row, and their identity goes
# on from where it was.  Validation results stored as values dump and
# restore too.  A restore with --no-owner by a role that is not a superuser
# gives tables the extension refuses, with the fix in the hint, until a
# superuser applies it.
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/lib/cluster.sh
. test/lib/packages.sh

cluster_init dump
cluster_start dump
cluster_env dump
work=$(cluster_dir dump)
psql="psql -X -q -v ON_ERROR_STOP=1"

fail() { echo "FAIL: $*" >&2; exit 1; }

$psql -c "CREATE DATABASE source"
$psql -d source >/dev/null <<'SQL'
CREATE TABLE users (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), email text NOT NULL);
CREATE EXTENSION api_tokens;
CREATE ROLE dump_validator;
GRANT EXECUTE ON FUNCTION api_token_validate(text, text[]) TO dump_validator;
INSERT INTO users (email) SELECT 'user' || i || '@example.com' FROM generate_series(1, 20) i;
-- Tokens kept in plaintext here only so that the test can validate them after the restore.
CREATE TABLE plaintexts AS
  SELECT c.token_id, c.token
    FROM users u, LATERAL api_token_create(u.id, 'token of ' || u.email, '{read}') c;
SELECT api_token_revoke(token_id) FROM plaintexts LIMIT 3;
-- Two tokens rotated out (their successors kept in plaintext too), one in its grace period.
CREATE TEMP VIEW active AS
  SELECT p.token_id FROM plaintexts p JOIN api_tokens t ON t.id = p.token_id WHERE t.is_active;
INSERT INTO plaintexts
SELECT r.* FROM (SELECT token_id FROM active ORDER BY token_id DESC LIMIT 1) p,
       LATERAL api_token_rotate(p.token_id) r;
INSERT INTO plaintexts
SELECT r.* FROM (SELECT token_id FROM active ORDER BY token_id LIMIT 1) p,
       LATERAL api_token_rotate(p.token_id, '1 day') r;
UPDATE api_tokens SET last_used_at = '2026-01-01 00:00:00+00' WHERE name LIKE '%user1@%';
-- Limits (1.2): credits with a refill on a valid token, an allowlist on a revoked one.
-- One token of user7 (the rotations above pick tokens by their random ids,
-- and may have given user7 a successor).
SELECT api_token_set_credits(t.id, 1000, 1000, '1 day')
  FROM (SELECT id FROM api_tokens WHERE is_active AND name LIKE '%user7@%'
         ORDER BY created_at, id LIMIT 1) t;
SELECT api_token_set_allowed_addresses(p.token_id, '{10.0.0.0/8, 2001:db8::/32}')
  FROM (SELECT token_id FROM plaintexts LIMIT 1) p;
-- attack_stored_result_record_type: results kept as values, which pg_dump
-- could not dump when they were anonymous records.
CREATE TABLE audit AS SELECT api_token_validate(token) AS v FROM plaintexts;
SQL

# What must survive: rows, schema of the table, ACLs of table and functions.
fingerprint() {
	$psql -d "$1" -At <<'SQL'
SELECT 'rows', count(*), count(*) FILTER (WHERE is_active), count(last_used_at),
       md5(string_agg(id::text || token_hash || coalesce(last_used_at::text, ''), ',' ORDER BY id))
  FROM api_tokens;
SELECT 'column', attname, format_type(atttypid, atttypmod), attnotnull,
       pg_get_expr(adbin, adrelid)
  FROM pg_attribute LEFT JOIN pg_attrdef ON adrelid = attrelid AND adnum = attnum
 WHERE attrelid = 'api_tokens'::regclass AND attnum > 0 ORDER BY attnum;
SELECT 'constraint', conname, pg_get_constraintdef(oid)
  FROM pg_constraint WHERE conrelid = 'api_tokens'::regclass ORDER BY conname;
SELECT 'index', indexrelid::regclass, pg_get_indexdef(indexrelid)
  FROM pg_index WHERE indrelid = 'api_tokens'::regclass ORDER BY indexrelid::regclass::text;
SELECT 'table privilege', r, p, has_table_privilege(r, 'api_tokens', p)
  FROM unnest(ARRAY['public', 'dump_validator']) r, unnest(ARRAY['SELECT', 'UPDATE']) p;
SELECT 'validator', has_function_privilege('dump_validator', 'api_token_validate(text, text[])', 'EXECUTE');
SELECT 'public', has_function_privilege('public', 'api_token_create(uuid, text, text[], timestamptz)', 'EXECUTE');
SELECT 'audit', pg_typeof(v), (v).status, count(*) FROM audit GROUP BY 2, 3 ORDER BY 3;
SELECT 'tables that are members', count(*) FROM pg_depend
 WHERE refclassid = 'pg_extension'::regclass AND deptype = 'e' AND classid = 'pg_class'::regclass;
SELECT 'rotations', count(*), md5(string_agg(r::text, ',' ORDER BY predecessor_id))
  FROM api_token_rotations r;
SELECT 'events', count(*), max(id), md5(string_agg(e::text, ',' ORDER BY id)) FROM api_token_events e;
SELECT 'limits', count(*), md5(string_agg(l::text, ',' ORDER BY token_id)) FROM api_token_limits l;
SELECT 'history privilege', t, r, p, has_table_privilege(r, t, p)
  FROM unnest(ARRAY['api_token_rotations', 'api_token_events', 'api_token_limits']) t,
       unnest(ARRAY['public', 'dump_validator']) r, unnest(ARRAY['SELECT', 'INSERT']) p;
SQL
}

# Every token validates as before: valid, or inactive for the revoked ones.
statuses() {
	$psql -d "$1" -At -c "SELECT v.status, count(*) FROM plaintexts p,
		LATERAL api_token_validate(p.token, '{read}') v GROUP BY 1 ORDER BY 1"
}

[ "$($psql -d source -At -c "SELECT count(*) FROM api_token_limits")" = 2 ] || fail "the source should limit two tokens"

# Validation records last use, so the statuses come first and the
# fingerprint includes what they wrote.
expected_statuses=$(statuses source)
expected=$(fingerprint source)
echo "source: $(echo "$expected" | head -1)"
echo "source statuses: ${expected_statuses//$'\n'/ }"
[ "$expected_statuses" = "$(printf 'inactive|3\nrotated|1\nvalid|18')" ] || fail "unexpected source statuses"

"$PGBIN/pg_dump" -d source -f "$work/plain.sql"
"$PGBIN/pg_dump" -d source -Fc -f "$work/custom.dump"

check_restored() {
	local db=$1 got
	got=$(fingerprint "$db")
	if [ "$got" != "$expected" ]; then
		diff <(echo "$expected") <(echo "$got") >&2 || true
		fail "$db differs from the source"
	fi
	[ "$(statuses "$db")" = "$expected_statuses" ] || fail "$db: tokens validate differently"
	# The events' identity goes on after the last restored id.
	before=$($psql -d "$db" -At -c "SELECT max(id) FROM api_token_events")
	$psql -d "$db" -At -c "SELECT api_token_revoke_user(id) FROM users WHERE email = 'user5@example.com'" >/dev/null
	[ "$($psql -d "$db" -At -c "SELECT max(id) FROM api_token_events")" -gt "$before" ] ||
		fail "$db: the events' identity starts over"
	# The restored table still has its foreign key and cascade.
	before=$($psql -d "$db" -At -c "SELECT count(*) FROM api_tokens")
	gone=$($psql -d "$db" -At -c "SELECT count(*) FROM api_tokens JOIN users u ON u.id = user_id
		WHERE u.email = 'user2@example.com'")
	$psql -d "$db" -c "DELETE FROM users WHERE email = 'user2@example.com'"
	{ [ "$gone" -ge 1 ] && [ "$($psql -d "$db" -At -c "SELECT count(*) FROM api_tokens")" = $((before - gone)) ]; } ||
		fail "$db: no cascade"
	echo "ok: $db restored with every token, constraint, index, default and privilege"
}

$psql -c "CREATE DATABASE plain_restore"
$psql -d plain_restore -f "$work/plain.sql" >/dev/null 2>"$work/plain.err" ||
	{ cat "$work/plain.err"; fail "plain restore failed"; }
check_restored plain_restore

$psql -c "CREATE DATABASE custom_restore"
"$PGBIN/pg_restore" --exit-on-error -d custom_restore "$work/custom.dump" 2>"$work/custom.err" ||
	{ cat "$work/custom.err"; fail "custom restore failed"; }
check_restored custom_restore

# attack_restore_no_owner: a non-superuser database owner restores with
# --no-owner into a database where a superuser installed the extension: the
# tables are hers, so the extension refuses them until a superuser takes
# each back, as the hints say.
$psql -c "CREATE ROLE app_owner LOGIN" -c "CREATE DATABASE noowner_restore OWNER app_owner"
$psql -d noowner_restore -c "CREATE EXTENSION api_tokens" 2>/dev/null
"$PGBIN/pg_restore" --no-owner --no-privileges -U app_owner -d noowner_restore "$work/custom.dump" \
	2>"$work/noowner.err" || true
[ "$($psql -d noowner_restore -At -c "SELECT tableowner FROM pg_tables WHERE tablename = 'api_tokens'")" = app_owner ] ||
	fail "noowner_restore: the restored table should belong to app_owner"
refusal=$($psql -d noowner_restore -At -c "SELECT status FROM plaintexts p, LATERAL api_token_validate(p.token) LIMIT 1" 2>&1 || true)
echo "$refusal" | grep -q 'api_tokens will not use table public.api_tokens: it is owned by role "app_owner"' ||
	fail "noowner_restore: validation should refuse the table, said: $refusal"
for table in api_tokens api_token_rotations api_token_events api_token_limits; do
	hint=$($psql -d noowner_restore -At -c "SELECT api_tokens_check_table()" 2>&1 |
		sed -n 's/^HINT:  .*can run: //p' || true)
	[ "$hint" = "ALTER TABLE public.$table OWNER TO postgres;" ] || fail "noowner_restore: unexpected hint: $hint"
	$psql -d noowner_restore -c "$hint"
done
$psql -d noowner_restore -At -c "SELECT api_tokens_check_table()" >/dev/null
[ "$(statuses noowner_restore)" = "$expected_statuses" ] || fail "noowner_restore: tokens validate differently"
echo "ok: a --no-owner restore is refused until a superuser takes the table back"

# The only message either restore printed is the install script's warning.
grep -v "users table \"users\" not found\|A restore of a dump\|Otherwise create the users" \
	"$work/plain.err" "$work/custom.err" | grep -q . && fail "unexpected restore output"
cluster_assert_no_crash dump
echo "dump_restore: all checks passed"
