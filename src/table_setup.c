/*
 * table_setup.c
 *		api_tokens_create_table and api_tokens_check_table: creating the
 *		api_tokens table, and checking one that already exists.
 *
 * The table refers to the application's users table, so it is not a
 * member of the extension (pg_dump would emit it inside CREATE EXTENSION,
 * before the users table, and the dump would not restore).  It is created
 * here, released from the extension when created by the install script,
 * and is an ordinary application table from then on.
 */
#include "postgres.h"

#include "access/relation.h"
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
#include "token_table.h"

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
	appendStringInfo(&sql, "REVOKE ALL ON TABLE %s FROM PUBLIC", qname);
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
	/* Created by the install script, the table became a member: release it. */
	if (creating_extension && CurrentExtensionObject == get_extension_oid("api_tokens", true))
		execute(psprintf("ALTER EXTENSION api_tokens DROP TABLE %s", qname));
	SPI_finish();

	PG_RETURN_OID(relid);
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
	PG_RETURN_OID(relid);
}
