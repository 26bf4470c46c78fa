/*
 * record_uses.c
 *		api_tokens_record_uses: on a primary, the uses that standbys forward
 *		(engine/forward.c), recorded like the primary's own.
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "tcop/utility.h"
#include "utils/array.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#include "engine/last_used.h"
#include "engine/use_table.h"
#include "tables/catalog.h"

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
	if (use_table_enabled())
	{
		for (int i = 0; i < n; i++)
			use_table_record(&uses[i].key, uses[i].at);
		use_table_count(USES_RECEIVED, n);
	}
	else
	{
		/* Written in this transaction, which must be able to write. */
		bool *done = palloc(sizeof(bool) * Max(n, 1));
		int written = 0;

		PreventCommandIfReadOnly("api_tokens_record_uses()");
		PreventCommandDuringRecovery("api_tokens_record_uses()");
		last_used_write(uses, n, done);
		for (int i = 0; i < n; i++)
			written += done[i] ? 1 : 0;
		n = written;
	}
	PG_RETURN_INT32(n);
}
