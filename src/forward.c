/*
 * forward.c
 *		Forwarding uses from a standby, and receiving them on the primary.
 *
 * A standby cannot write last_used_at, so its flusher connects to the
 * primary with libpq and calls api_tokens_record_uses() with batches of
 * token ids and use times: no token or hash ever leaves the standby.  If
 * the primary cannot be reached, the uses stay in the standby's bounded
 * table and the next round tries again; the error is logged and reported
 * by api_tokens_last_use_state().
 */
#include "postgres.h"

#include "access/xact.h"
#include "access/xlogrecovery.h"
#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "libpq-fe.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/snapmgr.h"
#include "utils/uuid.h"

#include "forward.h"
#include "last_used.h"
#include "remote.h"
#include "settings.h"
#include "token_table.h"
#include "uses.h"

/* Uses sent per call. */
#define FORWARD_BATCH 1000

/* When a call to the primary that starts now gives up. */
static TimestampTz
forward_deadline(void)
{
	return TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
									   (int64) api_tokens_forward_timeout * 1000);
}

/* Calls api_tokens_record_uses on the primary for a batch of one schema. */
static bool
send_batch(PGconn *conn, const char *nspname, const PendingUse *uses, int n)
{
	StringInfoData ids;
	StringInfoData times;
	const char *values[2];
	char *sql;
	char *error;
	PGresult *result;
	bool ok;

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
	sql = psprintf("SELECT %s.api_tokens_record_uses($1::pg_catalog.uuid[], "
				   "$2::pg_catalog.timestamptz[])",
				   quote_identifier(nspname));
	result = remote_exec(conn, sql, 2, values, forward_deadline(), &error);
	ok = result != NULL;
	if (!ok)
	{
		ereport(LOG, (errmsg("api_tokens could not forward %d recorded uses to the primary: %s", n,
							 error)));
		uses_note_error(error);
	}
	PQclear(result);
	return ok;
}

/* The connection to the primary, or NULL (the error logged and noted). */
static PGconn *
connect_to_primary(const char *dbname)
{
	const char *conninfo = api_tokens_forward_conninfo && api_tokens_forward_conninfo[0]
							   ? api_tokens_forward_conninfo
							   : PrimaryConnInfo;
	/* Later keywords win: the database and name are ours whatever conninfo says. */
	const char *keywords[] = {"dbname", "dbname", "application_name", NULL};
	const char *values[] = {conninfo, dbname, "api_tokens forwarder", NULL};
	PGconn *conn;
	char *error;

	if (conninfo == NULL || conninfo[0] == '\0')
	{
		uses_note_error("no primary to forward uses to: set api_tokens.forward_conninfo or "
						"primary_conninfo");
		return NULL;
	}
	conn = remote_connect(keywords, values, forward_deadline(), &error);
	if (conn == NULL)
	{
		ereport(LOG, (errmsg("api_tokens could not connect to the primary to forward recorded "
							 "uses: %s",
							 error)));
		uses_note_error(error);
	}
	return conn;
}

void
forward_database(Oid dboid)
{
	int n;
	PendingUse *pending = uses_of_database(dboid, api_tokens_max_tracked_tokens, &n);
	char *dbname;
	char **nspnames = palloc0(sizeof(char *) * Max(n, 1));
	PGconn *conn;
	int forwarded = 0;

	if (n == 0)
		return;
	/* Names from this standby's catalogs, the same as the primary's. */
	StartTransactionCommand();
	dbname = pstrdup(get_database_name(dboid));
	for (int i = 0; i < n; i++)
	{
		char *name = get_namespace_name(pending[i].key.nspoid);

		if (name == NULL)
			uses_forget_all(dboid, pending[i].key.nspoid);
		else
			nspnames[i] = pstrdup(name);
	}
	CommitTransactionCommand();

	conn = connect_to_primary(dbname);
	if (conn == NULL)
		return;
	/* Batches of uses of one schema, in the order they come. */
	for (int start = 0; start < n;)
	{
		int end = start;

		while (end < n && end - start < FORWARD_BATCH &&
			   pending[end].key.nspoid == pending[start].key.nspoid)
			end++;
		CHECK_FOR_INTERRUPTS();
		if (nspnames[start] != NULL)
		{
			if (!send_batch(conn, nspnames[start], pending + start, end - start))
				break;
			for (int i = start; i < end; i++)
				uses_forget(&pending[i].key, pending[i].at);
			forwarded += end - start;
		}
		start = end;
	}
	PQfinish(conn);
	uses_count(USES_FORWARDED, forwarded);
	uses_note_flush();
}

/*
 * SQL: api_tokens_record_uses(token_ids uuid[], used_at timestamptz[])
 *		RETURNS integer
 * On the primary, uses forwarded by standbys: recorded in shared memory
 * when the library is preloaded, written at once otherwise.
 */
PG_FUNCTION_INFO_V1(api_tokens_record_uses);
Datum
api_tokens_record_uses(PG_FUNCTION_ARGS)
{
	Oid nspoid = token_table_namespace_of(fcinfo->flinfo->fn_oid);
	Datum *ids;
	Datum *times;
	bool *id_nulls;
	bool *time_nulls;
	int nids;
	int ntimes;
	PendingUse *uses;
	int n = 0;
	TimestampTz current = GetCurrentTimestamp();

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						errmsg("token_ids and used_at must not be null")));
	deconstruct_array(PG_GETARG_ARRAYTYPE_P(0), UUIDOID, UUID_LEN, false, TYPALIGN_CHAR, &ids,
					  &id_nulls, &nids);
	deconstruct_array(PG_GETARG_ARRAYTYPE_P(1), TIMESTAMPTZOID, sizeof(TimestampTz),
					  FLOAT8PASSBYVAL, TYPALIGN_DOUBLE, &times, &time_nulls, &ntimes);
	if (nids != ntimes)
		ereport(ERROR, (errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
						errmsg("token_ids and used_at must have as many elements")));

	uses = palloc(sizeof(PendingUse) * Max(nids, 1));
	for (int i = 0; i < nids; i++)
	{
		TimestampTz at;

		if (id_nulls[i] || time_nulls[i])
			continue;
		/* A use is never in the future (nor infinite): last_used_at must not jump ahead. */
		at = DatumGetTimestampTz(times[i]);
		if (TIMESTAMP_NOT_FINITE(at))
			continue;
		if (at > current)
			at = current;
		uses[n].key.dboid = MyDatabaseId;
		uses[n].key.nspoid = nspoid;
		memcpy(uses[n].key.token_id.data, DatumGetUUIDP(ids[i])->data, UUID_LEN);
		uses[n].at = at;
		n++;
	}
	if (uses_enabled())
	{
		for (int i = 0; i < n; i++)
			uses_record(&uses[i].key, uses[i].at);
		uses_count(USES_RECEIVED, n);
	}
	else
	{
		bool *done = palloc(sizeof(bool) * Max(n, 1));

		last_used_write(uses, n, done);
	}
	PG_RETURN_INT32(n);
}
