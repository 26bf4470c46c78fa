#!/usr/bin/env bash
# versions: 15 17 18
# At every version of the chain (1.0 -> 1.1 -> 1.2 ...), a fresh
# installation and one installed as 1.0 and updated step by step with
# ALTER EXTENSION ... UPDATE are identical: every member (its definition,
# properties and privileges, initial privileges included), every type,
# every table of the extension with its columns, constraints, indexes and
# privileges, and the tables the scripts create.  So is an installation
# whose api_tokens table was created after CREATE EXTENSION.  A token issued
# at each version still validates after the updates.
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/lib/cluster.sh

fail() { echo "FAIL: $*" >&2; exit 1; }

cluster_init upgrade
cluster_start upgrade
cluster_env upgrade
psql="psql -X -q -v ON_ERROR_STOP=1"
version=$(sed -n "s/^default_version = '\(.*\)'/\1/p" api_tokens.control)

setup='CREATE TABLE users (id uuid PRIMARY KEY);'
steps=$(printf '%s\n' sql/api_tokens--*--*.sql | sed 's/.*--\(.*\)--\(.*\)\.sql/\2/' | sort -V)
$psql -c "CREATE DATABASE updated"
$psql -d updated -c "$setup" -c "CREATE EXTENSION api_tokens VERSION '1.0'" \
	-c "INSERT INTO users VALUES ('00000000-0000-0000-0000-000000000001')"
issue_token() {
	$psql -d updated -At -c "SELECT token FROM api_token_create('00000000-0000-0000-0000-000000000001', 'at $1')"
}
tokens=("$(issue_token 1.0)")
fingerprint() {
	$psql -d "$1" -At <<'SQL'
SELECT 'version', extversion, extrelocatable, extconfig::regclass[]::text[], extcondition
  FROM pg_extension WHERE extname = 'api_tokens';
-- Members: functions with their whole definition and properties.
SELECT 'function', pg_get_functiondef(p.oid), p.proacl, p.proconfig, p.prosecdef,
       p.provolatile, p.proparallel, p.proisstrict, p.prorows, obj_description(p.oid, 'pg_proc')
  FROM pg_proc p JOIN pg_depend d ON d.objid = p.oid AND d.classid = 'pg_proc'::regclass
 WHERE d.deptype = 'e' AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'api_tokens')
 ORDER BY p.oid::regprocedure::text;
-- Members: types, relations.
SELECT 'member', pg_describe_object(classid, objid, objsubid)
  FROM pg_depend
 WHERE deptype = 'e' AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'api_tokens')
 ORDER BY 2;
SELECT 'type', t.typname, string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod), ', ' ORDER BY a.attnum)
  FROM pg_type t JOIN pg_attribute a ON a.attrelid = t.typrelid
 WHERE t.typnamespace = 'public'::regnamespace AND t.typtype = 'c' AND a.attnum > 0 AND NOT a.attisdropped
   AND t.typrelid IN (SELECT oid FROM pg_class WHERE relkind = 'c')
 GROUP BY t.typname ORDER BY 2;
-- Tables (members and api_tokens): columns, defaults, constraints, indexes, privileges.
SELECT 'column', c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
       a.attidentity, pg_get_expr(ad.adbin, ad.adrelid)
  FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid
  LEFT JOIN pg_attrdef ad ON ad.adrelid = c.oid AND ad.adnum = a.attnum
 WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'r' AND c.relname LIKE 'api_token%'
   AND a.attnum > 0 AND NOT a.attisdropped
 ORDER BY c.relname, a.attnum;
SELECT 'constraint', conrelid::regclass, conname, pg_get_constraintdef(oid)
  FROM pg_constraint WHERE conrelid::regclass::text LIKE 'api_token%' ORDER BY 2::text, 3;
SELECT 'index', indexrelid::regclass, pg_get_indexdef(indexrelid)
  FROM pg_index WHERE indrelid::regclass::text LIKE 'api_token%' ORDER BY 2::text;
SELECT 'relation', c.relname, c.relkind, c.relacl, obj_description(c.oid, 'pg_class')
  FROM pg_class c WHERE c.relnamespace = 'public'::regnamespace AND c.relname LIKE 'api_token%'
 ORDER BY c.relname;
-- What pg_dump takes for the members' initial privileges.
SELECT 'init_privs', pg_describe_object(classoid, objoid, objsubid), privtype, initprivs
  FROM pg_init_privs
 WHERE (classoid, objoid) IN (SELECT classid, objid FROM pg_depend WHERE deptype = 'e'
                               AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'api_tokens'))
 ORDER BY 2;
SQL
}

# Step by step, as a real installation would have gone, compared at each step.
for step in $steps; do
	$psql -d updated -c "ALTER EXTENSION api_tokens UPDATE TO '$step'"
	tokens+=("$(issue_token "$step")")
	$psql -c "CREATE DATABASE fresh" -c "CREATE DATABASE late"
	$psql -d fresh -c "$setup" -c "CREATE EXTENSION api_tokens VERSION '$step'" \
		-c "INSERT INTO users VALUES ('00000000-0000-0000-0000-000000000001')"
	# The extension first (no users table yet: no api_tokens), its tables later.
	$psql -d late -c "SET client_min_messages = error" -c "CREATE EXTENSION api_tokens VERSION '$step'" \
		-c "$setup" -c "SELECT api_tokens_create_table('users')" \
		-c "INSERT INTO users VALUES ('00000000-0000-0000-0000-000000000001')" >/dev/null
	fresh=$(fingerprint fresh)
	for other in updated late; do
		theirs=$(fingerprint "$other")
		if [ "$fresh" != "$theirs" ]; then
			diff <(echo "$fresh") <(echo "$theirs") >&2 || true
			fail "$other at $step differs from a fresh $step"
		fi
	done
	[ "$(echo "$fresh" | grep -c '^function|')" -gt 10 ] || fail "the fingerprint lists too few functions"
	echo "ok: $step: fresh = 1.0 updated step by step = tables created after the extension ($(echo "$fresh" | wc -l) lines of definitions)"
	for t in "${tokens[@]}"; do
		status=$($psql -d updated -At -c "SELECT status FROM api_token_validate('$t')")
		[ "$status" = valid ] || fail "a token issued before the update to $step is $status"
	done
	$psql -c "DROP DATABASE fresh" -c "DROP DATABASE late"
done
[ "$step" = "$version" ] || fail "the chain ends at $step, not at the default version $version"
echo "ok: every token issued along the chain still validates at $version"
cluster_assert_no_crash upgrade
echo "upgrade: all checks passed"
