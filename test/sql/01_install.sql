-- Installation: the table, its columns, constraints and indexes, and the
-- objects that belong to the extension (the table does not).
\set VERBOSITY terse

-- Without a users table the extension installs, warns, and creates no table.
CREATE EXTENSION api_tokens;
SELECT to_regclass('api_tokens') IS NULL AS no_table_yet;
SELECT * FROM api_token_validate('pat_x');
SELECT * FROM api_token_validate('pat_0000000000000000000000000000002C8GjS');
DROP EXTENSION api_tokens;

CREATE TABLE users (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    email text NOT NULL UNIQUE
);
CREATE EXTENSION api_tokens;

SELECT a.attname, format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull AS not_null,
       pg_get_expr(d.adbin, d.adrelid) AS default
  FROM pg_attribute a
  LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
 WHERE a.attrelid = 'api_tokens'::regclass AND a.attnum > 0 AND NOT a.attisdropped
 ORDER BY a.attnum;

-- (PostgreSQL 18 also lists NOT NULL constraints here; the column listing
-- above shows them for every version.)
SELECT conname, pg_get_constraintdef(oid)
  FROM pg_constraint WHERE conrelid = 'api_tokens'::regclass AND contype <> 'n'
 ORDER BY conname;

SELECT indexrelid::regclass AS index, pg_get_indexdef(indexrelid)
  FROM pg_index WHERE indrelid = 'api_tokens'::regclass ORDER BY indexrelid::regclass::text;

-- The tokens' history: rotation lineage and events, beside api_tokens.
SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull,
       a.attidentity
  FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid
 WHERE c.relname IN ('api_token_rotations', 'api_token_events') AND a.attnum > 0
   AND c.relnamespace = 'public'::regnamespace
 ORDER BY c.relname, a.attnum;
SELECT indexrelid::regclass AS index, pg_get_indexdef(indexrelid)
  FROM pg_index WHERE indrelid IN ('api_token_rotations'::regclass, 'api_token_events'::regclass)
 ORDER BY indexrelid::regclass::text;
SELECT c.relname, c.relowner = 'postgres'::regrole AS owned_by_installer,
       (SELECT count(*) FROM aclexplode(c.relacl) a WHERE a.grantee <> c.relowner) AS granted_to_others
  FROM pg_class c
 WHERE c.relname IN ('api_tokens', 'api_token_rotations', 'api_token_events', 'api_token_events_id_seq')
   AND c.relnamespace = 'public'::regnamespace ORDER BY 1;

-- api_tokens is an ordinary application table, not an extension member,
-- and so are the history tables: dumped with the application's data, and
-- kept by DROP EXTENSION.
SELECT objid::regclass AS member_relation
  FROM pg_depend
 WHERE refclassid = 'pg_extension'::regclass AND deptype = 'e'
   AND classid = 'pg_class'::regclass
   AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'api_tokens')
 ORDER BY objid::regclass::text;

-- (Newer releases also record the array type of a composite type, and the
-- row type of a table, as members; both are left out so that every version
-- prints the same list.)
SELECT pg_describe_object(classid, objid, objsubid) AS member
  FROM pg_depend
 WHERE refclassid = 'pg_extension'::regclass AND deptype = 'e'
   AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'api_tokens')
   AND NOT (classid = 'pg_type'::regclass
            AND EXISTS (SELECT FROM pg_type t LEFT JOIN pg_class c ON c.oid = t.typrelid
                         WHERE t.oid = objid AND (t.typcategory = 'A' OR c.relkind = 'r')))
 ORDER BY 1;

-- The functions' properties.
SELECT p.proname, p.provolatile, p.proisstrict, p.prosecdef, p.proparallel, p.proconfig
  FROM pg_proc p
 WHERE p.pronamespace = 'public'::regnamespace AND p.proname LIKE 'api_token%'
 ORDER BY p.proname;

-- The table survives DROP EXTENSION and is adopted by the next CREATE EXTENSION.
INSERT INTO users (id, email) VALUES ('00000000-0000-0000-0000-00000000000a', 'kept@example.com');
SELECT token_id IS NOT NULL AS created
  FROM api_token_create('00000000-0000-0000-0000-00000000000a', 'kept');
DROP EXTENSION api_tokens;
SELECT count(*) AS tokens_after_drop FROM api_tokens;
CREATE EXTENSION api_tokens;
SELECT count(*) AS tokens_after_recreate FROM api_tokens;
DELETE FROM users WHERE id = '00000000-0000-0000-0000-00000000000a';

-- attack_drop_extension_loses_history: DROP EXTENSION used to drop the
-- lineage and the audit trail with it.  A rotated-out token must still say
-- rotated after a reinstall, one in its grace period must not be rotated a
-- second time, and no event is lost.
INSERT INTO users (id, email) VALUES ('00000000-0000-0000-0000-00000000000b', 'history@example.com');
SELECT token_id AS h1_id, token AS h1
  FROM api_token_create('00000000-0000-0000-0000-00000000000b', 'history') \gset
SELECT token_id AS h2_id FROM api_token_rotate(:'h1_id') \gset
SELECT token_id AS h3_id FROM api_token_rotate(:'h2_id', '1 day') \gset
SELECT count(*) AS events_before FROM api_token_events \gset
DROP EXTENSION api_tokens;
CREATE EXTENSION api_tokens;
SELECT count(*) = :events_before AS events_kept FROM api_token_events;
SELECT status FROM api_token_validate(:'h1');
SELECT api_token_successor(:'h2_id') = :'h3_id' AS lineage_kept;
\set VERBOSITY sqlstate
SELECT * FROM api_token_rotate(:'h2_id');
\set VERBOSITY terse
DELETE FROM users WHERE id = '00000000-0000-0000-0000-00000000000b';

-- Creating the table by hand: errors first.
SELECT api_tokens_create_table('users');
SELECT api_tokens_create_table(NULL);
