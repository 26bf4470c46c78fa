#!/usr/bin/env bash
# A fresh installation of the current version and one installed as 1.0 and
# updated with ALTER EXTENSION ... UPDATE are identical: every member (its
# definition, properties and privileges, initial privileges included),
# every type, every table of the extension with its columns, constraints,
# indexes and privileges, and the api_tokens table the scripts create.
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
$psql -c "CREATE DATABASE fresh" -c "CREATE DATABASE updated"
$psql -d fresh -c "$setup" -c "CREATE EXTENSION api_tokens"
$psql -d updated -c "$setup" -c "CREATE EXTENSION api_tokens VERSION '1.0'"
# Step by step, as a real installation would have gone.
for step in $(printf '%s\n' sql/api_tokens--*--*.sql | sed 's/.*--\(.*\)--\(.*\)\.sql/\2/' | sort -V); do
	$psql -d updated -c "ALTER EXTENSION api_tokens UPDATE TO '$step'"
done

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

fresh=$(fingerprint fresh)
updated=$(fingerprint updated)
echo "fresh $version: $(echo "$fresh" | wc -l) lines of definitions"
if [ "$fresh" != "$updated" ]; then
	diff <(echo "$fresh") <(echo "$updated") >&2 || true
	fail "1.0 updated to $version differs from a fresh $version"
fi
[ "$(echo "$fresh" | grep -c '^function|')" -gt 10 ] || fail "the fingerprint lists too few functions"
echo "ok: 1.0 + ALTER EXTENSION UPDATE equals a fresh $version: functions, members, types, tables, privileges"
cluster_assert_no_crash upgrade
echo "upgrade: all checks passed"
