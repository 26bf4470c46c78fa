#!/usr/bin/env bash
# pg_dump + restore into an empty database keeps every token, the foreign
# key, the indexes, the defaults and the privileges, in plain and custom
# formats, and the restored tokens still validate.
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
UPDATE api_tokens SET last_used_at = '2026-01-01 00:00:00+00' WHERE name LIKE '%user1@%';
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
SELECT 'member tables', count(*) FROM pg_depend
 WHERE refclassid = 'pg_extension'::regclass AND deptype = 'e' AND classid = 'pg_class'::regclass;
SQL
}

# Every token validates as before: valid, or inactive for the revoked ones.
statuses() {
	$psql -d "$1" -At -c "SELECT v.status, count(*) FROM plaintexts p,
		LATERAL api_token_validate(p.token, '{read}') v GROUP BY 1 ORDER BY 1"
}

# Validation records last use, so the statuses come first and the
# fingerprint includes what they wrote.
expected_statuses=$(statuses source)
expected=$(fingerprint source)
echo "source: $(echo "$expected" | head -1)"
echo "source statuses: $(echo $expected_statuses)"
[ "$expected_statuses" = "$(printf 'inactive|3\nvalid|17')" ] || fail "unexpected source statuses"

pg_dump -d source -f "$work/plain.sql"
pg_dump -d source -Fc -f "$work/custom.dump"

check_restored() {
	local db=$1 got
	got=$(fingerprint "$db")
	if [ "$got" != "$expected" ]; then
		diff <(echo "$expected") <(echo "$got") >&2 || true
		fail "$db differs from the source"
	fi
	[ "$(statuses "$db")" = "$expected_statuses" ] || fail "$db: tokens validate differently"
	# The restored table still has its foreign key and cascade.
	$psql -d "$db" -c "DELETE FROM users WHERE email = 'user2@example.com'"
	[ "$($psql -d "$db" -At -c "SELECT count(*) FROM api_tokens")" = 19 ] || fail "$db: no cascade"
	echo "ok: $db restored with every token, constraint, index, default and privilege"
}

$psql -c "CREATE DATABASE plain_restore"
$psql -d plain_restore -f "$work/plain.sql" >/dev/null 2>"$work/plain.err" ||
	{ cat "$work/plain.err"; fail "plain restore failed"; }
check_restored plain_restore

$psql -c "CREATE DATABASE custom_restore"
pg_restore --exit-on-error -d custom_restore "$work/custom.dump" 2>"$work/custom.err" ||
	{ cat "$work/custom.err"; fail "custom restore failed"; }
check_restored custom_restore

# The only message either restore printed is the install script's warning.
grep -v "users table \"users\" not found\|A restore of a dump\|Otherwise create the users" \
	"$work/plain.err" "$work/custom.err" | grep -q . && fail "unexpected restore output"
cluster_assert_no_crash dump
echo "dump_restore: all checks passed"
