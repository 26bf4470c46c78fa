/*
 * check_install.c
 *		api_tokens_check_install: what about the extension's schema lets a
 *		role that is not a superuser change what calls into it run.
 *
 * The extension's own code resolves no name.  Its callers do: an
 * application's "SELECT ... FROM api_tokens.api_token_validate($1, $2)", a
 * pg_cron job, a standby forwarding its uses.  Whoever owns the schema can
 * rename it and create another of that name; whoever may create in it can
 * add an overload that a call with other argument types (a driver binding
 * varchar, an untyped literal) resolves to, and that receives the token.
 * So the schema must belong to a superuser and let nobody else create in
 * it; the install and update scripts print each finding as a WARNING.
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/dependency.h"
#include "catalog/indexing.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_database.h"
#include "catalog/pg_depend.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_proc.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/catcache.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/regproc.h"
#include "utils/syscache.h"
#include "utils/tuplestore.h"

#include "tables/catalog.h"
#include "tables/rel_checks.h"

/* The role a privilege of pg_database_owner stands for: the database's owner. */
static Oid
effective_role(Oid role)
{
	HeapTuple tuple;
	Oid owner;

	if (role != ROLE_PG_DATABASE_OWNER)
		return role;
	tuple = SearchSysCache1(DATABASEOID, ObjectIdGetDatum(MyDatabaseId));
	if (!HeapTupleIsValid(tuple))
		elog(ERROR, "cache lookup failed for database %u", MyDatabaseId);
	owner = ((Form_pg_database) GETSTRUCT(tuple))->datdba;
	ReleaseSysCache(tuple);
	return owner;
}

static const char *
role_name(Oid role)
{
	char *name = GetUserNameFromId(role, true);

	return name ? quote_identifier(name) : "?";
}

static void
report(ReturnSetInfo *rsinfo, const char *problem, const char *hint)
{
	Datum values[2] = {CStringGetTextDatum(problem), CStringGetTextDatum(hint)};
	bool nulls[2] = {false, false};

	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
}

/* The owner of the schema, and every other role that may create in it. */
static void
check_schema(ReturnSetInfo *rsinfo, Oid nspoid, const char *schema)
{
	HeapTuple tuple = SearchSysCache1(NAMESPACEOID, ObjectIdGetDatum(nspoid));
	Oid owner;
	bool isnull;
	Datum acl_datum;

	if (!HeapTupleIsValid(tuple))
		elog(ERROR, "cache lookup failed for schema %u", nspoid);
	owner = ((Form_pg_namespace) GETSTRUCT(tuple))->nspowner;
	if (!superuser_arg(effective_role(owner)))
		report(rsinfo,
			   psprintf("schema %s is owned by role %s, who is not a superuser: that role can "
						"rename it, create another schema of its name, and create functions "
						"in it that calls by name would run",
						schema, role_name(effective_role(owner))),
			   psprintf("Install the extension in a schema only superusers own and create in "
						"(CREATE SCHEMA api_tokens; CREATE EXTENSION api_tokens SCHEMA "
						"api_tokens), or give this one to a superuser: ALTER SCHEMA %s OWNER TO "
						"%s;",
						schema, role_name(BOOTSTRAP_SUPERUSERID)));

	acl_datum = SysCacheGetAttr(NAMESPACEOID, tuple, Anum_pg_namespace_nspacl, &isnull);
	if (!isnull)
	{
		Acl *acl = DatumGetAclPCopy(acl_datum);
		AclItem *items = ACL_DAT(acl);

		for (int i = 0; i < ACL_NUM(acl); i++)
		{
			Oid grantee = items[i].ai_grantee;

			if ((ACLITEM_GET_PRIVS(items[i]) & ACL_CREATE) == 0 || grantee == owner)
				continue;
			if (grantee == ACL_ID_PUBLIC)
				report(rsinfo,
					   psprintf("every role may create objects in schema %s, such as functions "
								"that calls by name would run",
								schema),
					   psprintf("REVOKE CREATE ON SCHEMA %s FROM PUBLIC;", schema));
			else if (!superuser_arg(effective_role(grantee)))
				report(rsinfo,
					   psprintf("role %s, who is not a superuser, may create objects in schema "
								"%s, such as functions that calls by name would run",
								role_name(effective_role(grantee)), schema),
					   psprintf("REVOKE CREATE ON SCHEMA %s FROM %s;", schema, role_name(grantee)));
		}
	}
	ReleaseSysCache(tuple);
}

/* The names of the extension's functions. */
static List *
member_function_names(Oid extension)
{
	Relation depend = table_open(DependRelationId, AccessShareLock);
	ScanKeyData keys[2];
	SysScanDesc scan;
	HeapTuple tuple;
	List *names = NIL;

	ScanKeyInit(&keys[0], Anum_pg_depend_refclassid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(ExtensionRelationId));
	ScanKeyInit(&keys[1], Anum_pg_depend_refobjid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(extension));
	scan = systable_beginscan(depend, DependReferenceIndexId, true, NULL, 2, keys);
	while (HeapTupleIsValid(tuple = systable_getnext(scan)))
	{
		Form_pg_depend dep = (Form_pg_depend) GETSTRUCT(tuple);
		char *name;

		if (dep->classid != ProcedureRelationId || dep->deptype != DEPENDENCY_EXTENSION)
			continue;
		name = get_func_name(dep->objid);
		if (name != NULL && !list_member(names, makeString(name)))
			names = lappend(names, makeString(name));
	}
	systable_endscan(scan);
	table_close(depend, AccessShareLock);
	return names;
}

/* Functions in the schema that share a name with one of the extension's, but are not its. */
static void
check_look_alikes(ReturnSetInfo *rsinfo, Oid nspoid, Oid extension)
{
	ListCell *lc;

	foreach (lc, member_function_names(extension))
	{
		const char *name = strVal(lfirst(lc));
		CatCList *candidates = SearchSysCacheList1(PROCNAMEARGSNSP, CStringGetDatum(name));

		for (int i = 0; i < candidates->n_members; i++)
		{
			HeapTuple tuple = &candidates->members[i]->tuple;
			Form_pg_proc proc = (Form_pg_proc) GETSTRUCT(tuple);

			if (proc->pronamespace != nspoid ||
				getExtensionOfObject(ProcedureRelationId, proc->oid) == extension)
				continue;
			report(rsinfo,
				   psprintf("function %s is not part of the extension: a call of %s whose "
							"arguments are not of the exact types may run it",
							format_procedure_qualified(proc->oid), name),
				   psprintf("Drop it if nobody should have made it: DROP FUNCTION %s;",
							format_procedure_qualified(proc->oid)));
		}
		ReleaseSysCacheList(candidates);
	}
}

/* SQL: api_tokens_check_install(OUT problem text, OUT hint text) RETURNS SETOF record */
PG_FUNCTION_INFO_V1(api_tokens_check_install);
Datum
api_tokens_check_install(PG_FUNCTION_ARGS)
{
	Oid nspoid = token_table_namespace_of(fcinfo->flinfo->fn_oid);
	ExtensionInfo extension;

	InitMaterializedSRF(fcinfo, 0);
	if (!rel_checks_extension(&extension))
		return (Datum) 0;
	check_schema((ReturnSetInfo *) fcinfo->resultinfo, nspoid,
				 quote_identifier(get_namespace_name(nspoid)));
	check_look_alikes((ReturnSetInfo *) fcinfo->resultinfo, nspoid, extension.oid);
	return (Datum) 0;
}
