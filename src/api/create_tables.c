/*
 * create_tables.c
 *		api_tokens_create_table, api_tokens_create_history_tables and
 *		api_tokens_check_table: creating the extension's tables, and checking
 *		those that already exist.
 *
 * The api_tokens table refers to the application's users table, so it is
 * not a member of the extension (pg_dump would emit it inside CREATE
 * EXTENSION, before the users table, and the dump would not restore).  It
 * is created here, released from the extension when created by an
 * extension script, and is an ordinary application table from then on.
 * The history tables (rotations and events, since 1.1) are created and
 * released with it, so that they too are dumped with the application's
 * data and survive DROP EXTENSION.
 */
#include "postgres.h"

#include "access/relation.h"
#include "access/xact.h"
#include "catalog/dependency.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"

#include "compat.h"
#include "tables/catalog.h"
#include "tables/rel_checks.h"

/* The statements that create the table; %1$s is its name, %2$s the users table. */
static const char *const create_statements[] = {
	"CREATE TABLE %1$s ("
	" id           uuid           NOT NULL DEFAULT pg_catalog.gen_random_uuid(),"
	" user_id      uuid           NOT NULL,"
	" name         varchar(100)   NOT NULL,"
	" token_hash   varchar(64)    NOT NULL,"
	" token_prefix varchar(8)     NOT NULL,"
	" scopes       varchar(50)[],"
	" expires_at   timestamptz,"
	" last_used_at timestamptz,"
	" is_active    boolean        NOT NULL DEFAULT true,"
	" created_at   timestamptz    NOT NULL DEFAULT pg_catalog.now(),"
	" CONSTRAINT api_tokens_pkey PRIMARY KEY (id),"
	" CONSTRAINT fk_api_tokens_user_id FOREIGN KEY (user_id)"
	"   REFERENCES %2$s (id) ON DELETE CASCADE)",
	"CREATE INDEX ix_api_tokens_user_id ON %1$s (user_id)",
	"CREATE UNIQUE INDEX ix_api_tokens_token_hash ON %1$s (token_hash)",
	"CREATE INDEX ix_api_tokens_token_prefix ON %1$s (token_prefix)",
};

/*
 * The side tables, each with the version that brought it and the statements
 * that create it; %1$s is the schema.
 */
static const struct
{
	const char *name;
	int since_major;
	int since_minor;
	const char *statements[3];
} history_tables[] = {
	{"api_token_rotations",
	 1,
	 1,
	 {"CREATE TABLE %1$s.api_token_rotations ("
	  " predecessor_id uuid        NOT NULL,"
	  " successor_id   uuid        NOT NULL,"
	  " rotated_at     timestamptz NOT NULL,"
	  " grace_ends_at  timestamptz NOT NULL,"
	  " CONSTRAINT api_token_rotations_pkey PRIMARY KEY (predecessor_id),"
	  " CONSTRAINT api_token_rotations_successor_id_key UNIQUE (successor_id))",
	  "COMMENT ON TABLE %1$s.api_token_rotations IS 'one row per rotation: a token has at most "
	  "one successor and one predecessor, so a lineage never forks'",
	  NULL}},
	{"api_token_events",
	 1,
	 1,
	 {"CREATE TABLE %1$s.api_token_events ("
	  " id       bigint      GENERATED ALWAYS AS IDENTITY,"
	  " at       timestamptz NOT NULL,"
	  " token_id uuid        NOT NULL,"
	  " user_id  uuid,"
	  " event    text        NOT NULL,"
	  " detail   jsonb       NOT NULL DEFAULT '{}',"
	  " db_user  name        NOT NULL,"
	  " actor    text,"
	  " CONSTRAINT api_token_events_pkey PRIMARY KEY (id))",
	  "CREATE INDEX api_token_events_token_id_at_idx ON %1$s.api_token_events (token_id, at)",
	  "COMMENT ON TABLE %1$s.api_token_events IS 'what happened to tokens, append-only: "
	  "created, rotated, revoked, reused, purged; never a token or hash'"}},
	{"api_token_limits",
	 1,
	 2,
	 {"CREATE TABLE %1$s.api_token_limits ("
	  " token_id             uuid        NOT NULL,"
	  " rate_limit           integer     CHECK (rate_limit > 0),"
	  " rate_window          interval    CHECK (rate_window > '0' AND rate_window <= '366 days'),"
	  " credits              bigint      CHECK (credits >= 0),"
	  " credits_refill       bigint      CHECK (credits_refill >= 0),"
	  " credits_refill_every interval    CHECK (credits_refill_every > '0'),"
	  " credits_refilled_at  timestamptz,"
	  " credits_version      bigint      NOT NULL DEFAULT 0,"
	  " allowed_addresses    cidr[]      CHECK (cardinality(allowed_addresses) <= 1000),"
	  " CONSTRAINT api_token_limits_pkey PRIMARY KEY (token_id),"
	  " CONSTRAINT api_token_limits_rate_check CHECK ((rate_limit IS NULL) = (rate_window IS "
	  "NULL)),"
	  " CONSTRAINT api_token_limits_refill_check"
	  "   CHECK ((credits_refill IS NULL) = (credits_refill_every IS NULL)))"
	  /* Room in each page for a row's next version: the flusher rewrites the
	   * credits of every token spent from, and a HOT update keeps the row
	   * where the shared table's hint points. */
	  " WITH (fillfactor = 50)",
	  "COMMENT ON TABLE %1$s.api_token_limits IS 'limits of tokens: a rate limit, usage credits, "
	  "an address allowlist; set them with the api_token_set_* functions'",
	  NULL}},
};

static void
execute(const char *sql)
{
	int rc = SPI_execute(sql, false, 0);

	if (rc < 0)
		elog(ERROR, "SPI_execute failed: %s", SPI_result_code_string(rc));
}

/*
 * Leaves the table's privileges to its owner alone: default privileges
 * (ALTER DEFAULT PRIVILEGES ... GRANT ... ON TABLES) may have granted some
 * to other roles as the table was created.
 */
static void
revoke_all_but_owner(Oid relid, const char *qname)
{
	const char *kind = get_rel_relkind(relid) == RELKIND_SEQUENCE ? "SEQUENCE" : "TABLE";
	HeapTuple tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	Oid owner;
	bool isnull;
	Datum acl_datum;
	StringInfoData sql;

	if (!HeapTupleIsValid(tuple))
		elog(ERROR, "cache lookup failed for relation %u", relid);
	owner = ((Form_pg_class) GETSTRUCT(tuple))->relowner;
	acl_datum = SysCacheGetAttr(RELOID, tuple, Anum_pg_class_relacl, &isnull);

	initStringInfo(&sql);
	appendStringInfo(&sql, "REVOKE ALL ON %s %s FROM PUBLIC", kind, qname);
	if (!isnull)
	{
		Acl *acl = DatumGetAclPCopy(acl_datum);
		AclItem *items = ACL_DAT(acl);

		for (int i = 0; i < ACL_NUM(acl); i++)
		{
			Oid grantee = items[i].ai_grantee;

			if (grantee != owner && grantee != ACL_ID_PUBLIC)
				appendStringInfo(&sql, ", %s", quote_identifier(GetUserNameFromId(grantee, false)));
		}
	}
	appendStringInfoString(&sql, " CASCADE");
	ReleaseSysCache(tuple);
	execute(sql.data);
}

/*
 * Leaves a table created by an extension script to the application: an
 * ordinary table from then on (members are dumped inside CREATE EXTENSION,
 * and dropped with it).  So are the sequences of its identity columns.
 */
static void
release(Oid relid, const char *qname)
{
	ListCell *lc;

	if (!creating_extension || CurrentExtensionObject != get_extension_oid("api_tokens", true))
		return;
	execute(psprintf("ALTER EXTENSION api_tokens DROP TABLE %s", qname));
	foreach (lc, getOwnedSequences(relid))
	{
		Oid sequence = lfirst_oid(lc);

		execute(psprintf("ALTER EXTENSION api_tokens DROP SEQUENCE %s",
						 quote_qualified_identifier(get_namespace_name(get_rel_namespace(sequence)),
													get_rel_name(sequence))));
	}
}

/* True if the installed extension is at major.minor or later (or being created). */
static bool
extension_at_least(int major, int minor)
{
	ExtensionInfo extension;

	return !rel_checks_extension(&extension) ||
		   catalog_version_at_least(extension.version, major, minor);
}

/* Creates the missing side tables of the schema (SPI connected), and checks the others. */
static void
create_history_tables(Oid nspoid)
{
	const char *nspname = get_namespace_name(nspoid);
	ExtTables checked;

	/* Those already there (kept by DROP EXTENSION, or restored) are adopted if they pass. */
	ext_tables_check(nspoid, &checked);
	for (int i = 0; i < (int) lengthof(history_tables); i++)
	{
		const char *qname = quote_qualified_identifier(nspname, history_tables[i].name);
		Oid relid;
		ListCell *lc;

		if (OidIsValid(get_relname_relid(history_tables[i].name, nspoid)) ||
			!extension_at_least(history_tables[i].since_major, history_tables[i].since_minor))
			continue;
		for (int j = 0; j < (int) lengthof(history_tables[i].statements); j++)
			if (history_tables[i].statements[j] != NULL)
				execute(psprintf(history_tables[i].statements[j], quote_identifier(nspname)));
		relid = get_relname_relid(history_tables[i].name, nspoid);
		revoke_all_but_owner(relid, qname);
		foreach (lc, getOwnedSequences(relid))
			revoke_all_but_owner(lfirst_oid(lc),
								 quote_qualified_identifier(nspname, get_rel_name(lfirst_oid(lc))));
		release(relid, qname);
	}
	/* What was just made passes the same checks. */
	CommandCounterIncrement();
	ext_tables_check(nspoid, &checked);
}

/* SQL: api_tokens_create_table(users_table regclass) RETURNS regclass */
PG_FUNCTION_INFO_V1(api_tokens_create_table);
Datum
api_tokens_create_table(PG_FUNCTION_ARGS)
{
	Oid nspoid = token_table_namespace_of(fcinfo->flinfo->fn_oid);
	char *nspname = get_namespace_name(nspoid);
	const char *qname = quote_qualified_identifier(nspname, "api_tokens");
	Oid users;
	AttrNumber users_id;
	const char *users_name;
	Oid relid;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("users_table must not be null")));
	users = PG_GETARG_OID(0);
	users_name = quote_qualified_identifier(get_namespace_name(get_rel_namespace(users)),
											get_rel_name(users));
	if (OidIsValid(get_relname_relid("api_tokens", nspoid)))
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_TABLE), errmsg("table %s already exists", qname)));
	users_id = get_attnum(users, "id");
	if (users_id == InvalidAttrNumber || get_atttype(users, users_id) != UUIDOID)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("users table %s has no id column of type uuid", users_name),
				 errdetail("api_tokens.user_id is a uuid that refers to the users table's id.")));

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	for (int i = 0; i < (int) lengthof(create_statements); i++)
		execute(psprintf(create_statements[i], qname, users_name));
	relid = get_relname_relid("api_tokens", nspoid);
	revoke_all_but_owner(relid, qname);
	release(relid, qname);
	if (extension_at_least(1, 1))
		create_history_tables(nspoid);
	SPI_finish();

	PG_RETURN_OID(relid);
}

/* SQL: api_tokens_create_history_tables() RETURNS void */
PG_FUNCTION_INFO_V1(api_tokens_create_history_tables);
Datum
api_tokens_create_history_tables(PG_FUNCTION_ARGS)
{
	Oid nspoid = token_table_namespace_of(fcinfo->flinfo->fn_oid);
	const TokenTable *table;
	Relation rel;

	/* They belong beside a table the extension can use. */
	rel = token_table_open(nspoid, AccessShareLock, &table);
	relation_close(rel, AccessShareLock);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	create_history_tables(nspoid);
	SPI_finish();
	PG_RETURN_VOID();
}

/* SQL: api_tokens_check_table() RETURNS regclass */
PG_FUNCTION_INFO_V1(api_tokens_check_table);
Datum
api_tokens_check_table(PG_FUNCTION_ARGS)
{
	Oid nspoid = token_table_namespace_of(fcinfo->flinfo->fn_oid);
	const TokenTable *table;
	Relation rel = token_table_open(nspoid, AccessShareLock, &table);
	Oid relid = RelationGetRelid(rel);

	relation_close(rel, AccessShareLock);
	/* And the history tables beside it (none in a database still at 1.0). */
	(void) ext_tables_of(nspoid);
	PG_RETURN_OID(relid);
}
