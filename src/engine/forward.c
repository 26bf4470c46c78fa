/*
 * forward.c
 *		Forwarding uses from a standby to the primary (which records them in
 *		api/record_uses.c).
 *
 * A standby cannot write last_used_at, so its flusher connects to the
 * primary with libpq and calls api_tokens_record_uses() with batches of
 * token ids and use times: no token or hash ever leaves the standby.  If
 * the primary cannot be reached, or refuses, the uses stay in the standby's
 * bounded table and a later round tries again; the error is logged and
 * reported by api_tokens_last_use_state().
 *
 * The call runs on the primary, where a schema's owner may have renamed
 * the extension's schema since the standby last replayed, and created
 * another of that name with a function of its own.  So the standby never
 * calls a name it read: it sends the function's OID (the same on both, a
 * physical copy), the primary says where that function is now, and the
 * call is made only if that schema's name can be changed and written into
 * by superusers alone.  And it never forwards as a superuser: whatever the
 * call ran, it would run with that role's privileges.
 */
#include "postgres.h"

#include "access/xact.h"
#include "access/xlogrecovery.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "libpq-fe.h"
#include "miscadmin.h"
#include "parser/parse_func.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/uuid.h"

#include "engine/forward.h"
#include "engine/last_used.h"
#include "engine/remote.h"
#include "engine/use_table.h"
#include "settings.h"
#include "tables/catalog.h"

/* Uses sent per call. */
#define FORWARD_BATCH 1000

/*
 * On the primary: where the function $1 is, and whether a call by that name
 * is safe.  Every name is qualified and every operator spelled out, so
 * that nothing here resolves through a schema a role other than a
 * superuser controls.  The role pg_database_owner (owner of schema public
 * since PostgreSQL 15) counts as a superuser when the database's owner is
 * one.
 */
static const char *const locate_sql =
	"WITH f AS ("
	" SELECT n.nspname, n.nspowner, n.nspacl, p.proname, p.oid,"
	"  (SELECT d.datdba FROM pg_catalog.pg_database d"
	"    WHERE d.datname OPERATOR(pg_catalog.=) pg_catalog.current_database()) AS datdba"
	" FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n"
	"   ON n.oid OPERATOR(pg_catalog.=) p.pronamespace"
	" WHERE p.oid OPERATOR(pg_catalog.=) $1::pg_catalog.oid), "
	"superusers AS ("
	" SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolsuper"
	" UNION ALL SELECT 'pg_database_owner'::pg_catalog.regrole::pg_catalog.oid FROM f"
	"  WHERE f.datdba OPERATOR(pg_catalog.=) ANY (SELECT r.oid FROM pg_catalog.pg_roles r"
	"                                            WHERE r.rolsuper)) "
	"SELECT pg_catalog.quote_ident(f.nspname),"
	" f.proname OPERATOR(pg_catalog.=) 'api_tokens_record_uses' AND EXISTS ("
	"  SELECT FROM pg_catalog.pg_depend d JOIN pg_catalog.pg_extension e"
	"    ON e.oid OPERATOR(pg_catalog.=) d.refobjid"
	"   WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_proc'::pg_catalog.regclass"
	"     AND d.objid OPERATOR(pg_catalog.=) f.oid AND d.deptype OPERATOR(pg_catalog.=) 'e'"
	"     AND d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_extension'::pg_catalog.regclass"
	"     AND e.extname OPERATOR(pg_catalog.=) 'api_tokens'),"
	" f.nspowner OPERATOR(pg_catalog.=) ANY (SELECT oid FROM superusers)"
	" AND NOT EXISTS ("
	"  SELECT FROM pg_catalog.aclexplode(f.nspacl) a"
	"   WHERE a.privilege_type OPERATOR(pg_catalog.=) 'CREATE'"
	"     AND NOT a.grantee OPERATOR(pg_catalog.=) ANY (SELECT oid FROM superusers))"
	" FROM f";

/* When a call to the primary that starts now gives up. */
static TimestampTz
forward_deadline(void)
{
	return TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
									   (int64) api_tokens_forward_timeout * 1000);
}

/* Logs and returns a forwarding failure (the message of an error, never a row). */
static char *
failed(Oid dboid, const char *what, const char *error)
{
	char *message = psprintf("%s: %s", what, error);

	ereport(LOG,
			(errmsg("api_tokens could not forward recorded uses to the primary: %s", message)));
	use_table_note_error(dboid, message);
	return message;
}

/*
 * The schema of the primary's function fn (quoted), if a call by that name
 * is safe; NULL with *error set otherwise.
 */
static char *
locate_on_primary(PGconn *conn, Oid fn, char **error)
{
	char oid_text[16];
	const char *values[1] = {oid_text};
	PGresult *result;
	char *schema = NULL;

	snprintf(oid_text, sizeof(oid_text), "%u", fn);
	result = remote_exec(conn, locate_sql, 1, values, forward_deadline(), error);
	if (result == NULL)
		return NULL;
	if (PQntuples(result) != 1)
		*error = pstrdup("the primary has no such function api_tokens_record_uses (is the "
						 "extension at the same version there?)");
	else if (strcmp(PQgetvalue(result, 0, 1), "t") != 0)
		*error = pstrdup("the function the standby knows as api_tokens_record_uses is another "
						 "one on the primary");
	else if (strcmp(PQgetvalue(result, 0, 2), "t") != 0)
		*error = psprintf("the extension's schema %s on the primary is owned, or may be written "
						  "into, by a role that is not a superuser, who could replace what a call "
						  "by name runs (see api_tokens_check_install())",
						  PQgetvalue(result, 0, 0));
	else
		schema = pstrdup(PQgetvalue(result, 0, 0));
	PQclear(result);
	return schema;
}

/*
 * Calls api_tokens_record_uses in schema (quoted) on the primary for a
 * batch; *accepted is what the primary says it recorded (fewer when it
 * writes at once and skips rows another session holds, as validations do).
 */
static bool
send_batch(PGconn *conn, const char *schema, const PendingUse *uses, int n, int *accepted,
		   char **error)
{
	StringInfoData ids;
	StringInfoData times;
	const char *values[2];
	PGresult *result;

	initStringInfo(&ids);
	initStringInfo(&times);
	appendStringInfoChar(&ids, '{');
	appendStringInfoChar(&times, '{');
	for (int i = 0; i < n; i++)
	{
		char buf[MAXDATELEN + 1];

		if (i > 0)
		{
			appendStringInfoChar(&ids, ',');
			appendStringInfoChar(&times, ',');
		}
		appendStringInfoString(&ids, DatumGetCString(DirectFunctionCall1(
										 uuid_out, UUIDPGetDatum(&uses[i].key.token_id))));
		appendStringInfo(
			&times, "\"%s\"",
			JsonEncodeDateTime(buf, TimestampTzGetDatum(uses[i].at), TIMESTAMPTZOID, NULL));
	}
	appendStringInfoChar(&ids, '}');
	appendStringInfoChar(&times, '}');
	values[0] = ids.data;
	values[1] = times.data;
	result = remote_exec(conn,
						 psprintf("SELECT %s.api_tokens_record_uses($1::pg_catalog.uuid[], "
								  "$2::pg_catalog.timestamptz[])",
								  schema),
						 2, values, forward_deadline(), error);
	if (result == NULL)
		return false;
	*accepted = PQntuples(result) == 1 && !PQgetisnull(result, 0, 0)
					? pg_strtoint32(PQgetvalue(result, 0, 0))
					: 0;
	PQclear(result);
	return true;
}

/* The connection to the primary, or NULL with *error set. */
static PGconn *
connect_to_primary(const char *dbname, char **error)
{
	const char *conninfo = api_tokens_forward_conninfo && api_tokens_forward_conninfo[0]
							   ? api_tokens_forward_conninfo
							   : PrimaryConnInfo;
	/*
	 * Later keywords win: the database, the name and the session settings
	 * are ours whatever conninfo says, and whatever the primary's database
	 * or role settings would make them (a read-only default would fail
	 * every call).
	 */
	const char *keywords[] = {"dbname", "dbname", "application_name", "options", NULL};
	const char *values[] = {conninfo, dbname, "api_tokens forwarder",
							"-c default_transaction_read_only=off "
							"-c default_transaction_isolation=read\\ committed "
							"-c statement_timeout=0 -c search_path=pg_catalog",
							NULL};
	PGconn *conn;
	const char *superuser;

	if (conninfo == NULL || conninfo[0] == '\0')
	{
		*error = pstrdup("no primary to forward to: set api_tokens.forward_conninfo or "
						 "primary_conninfo");
		return NULL;
	}
	conn = remote_connect(keywords, values, forward_deadline(), error);
	if (conn == NULL)
		return NULL;
	superuser = PQparameterStatus(conn, "is_superuser");
	if (superuser == NULL || strcmp(superuser, "off") != 0)
	{
		remote_close(conn);
		*error = pstrdup("refusing to forward as a superuser: create a role with LOGIN and "
						 "EXECUTE on api_tokens_record_uses only, and name it in "
						 "api_tokens.forward_conninfo");
		return NULL;
	}
	return conn;
}

/* The OID of api_tokens_record_uses in the schema nspoid, from this standby's catalog. */
static Oid
record_uses_function(Oid nspoid)
{
	Oid argtypes[2] = {UUIDARRAYOID, TIMESTAMPTZARRAYOID};
	oidvector *args = buildoidvector(argtypes, 2);

	return GetSysCacheOid3(PROCNAMEARGSNSP, Anum_pg_proc_oid,
						   CStringGetDatum("api_tokens_record_uses"), PointerGetDatum(args),
						   ObjectIdGetDatum(nspoid));
}

char *
forward_database(Oid dboid)
{
	int n;
	PendingUse *pending = use_table_of_database(dboid, api_tokens_max_tracked_tokens, &n);
	char *dbname;
	Oid *functions = palloc0(sizeof(Oid) * Max(n, 1));
	PGconn *conn;
	char *error = NULL;
	int forwarded = 0;

	if (n == 0)
		return NULL;
	/* What this standby's catalog says, by OID only. */
	StartTransactionCommand();
	dbname = get_database_name(dboid);
	dbname = dbname ? pstrdup(dbname) : NULL;
	for (int i = 0; i < n && dbname != NULL; i++)
	{
		if (i > 0 && pending[i].key.nspoid == pending[i - 1].key.nspoid)
			functions[i] = functions[i - 1];
		else
			functions[i] = record_uses_function(pending[i].key.nspoid);
		/* DROP EXTENSION: nothing to forward to, ever. */
		if (!OidIsValid(functions[i]))
			use_table_forget_all(dboid, pending[i].key.nspoid);
	}
	CommitTransactionCommand();
	if (dbname == NULL)
		return NULL; /* dropped meanwhile: the launcher forgets its uses */

	conn = connect_to_primary(dbname, &error);
	if (conn == NULL)
		return failed(dboid, "could not connect", error);
	/* Batches of uses of one schema, in the order they come. */
	for (int start = 0; start < n && error == NULL;)
	{
		int end = start;
		char *schema;

		while (end < n && end - start < FORWARD_BATCH &&
			   pending[end].key.nspoid == pending[start].key.nspoid)
			end++;
		CHECK_FOR_INTERRUPTS();
		if (OidIsValid(functions[start]))
		{
			int accepted = 0;

			schema = locate_on_primary(conn, functions[start], &error);
			if (schema == NULL)
				break;
			if (!send_batch(conn, schema, pending + start, end - start, &accepted, &error))
				break;
			for (int i = start; i < end; i++)
				use_table_forget(&pending[i].key, pending[i].at);
			forwarded += accepted;
		}
		start = end;
	}
	remote_close(conn);
	use_table_count(USES_FORWARDED, forwarded);
	return error ? failed(dboid, "the primary refused them", error) : NULL;
}
