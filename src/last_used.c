/*
 * last_used.c
 *		Best-effort last_used_at bookkeeping for api_token_validate.
 *
 * The write must never become the bottleneck of validation or a reason for
 * it to fail.  So it locks the row with SKIP LOCKED (a session that holds
 * the lock is recording a use this very moment), targets the exact row
 * version validation saw (if the row changed since, someone else wrote it),
 * and is skipped where a write is impossible or would join the caller's
 * serialization conflicts.  In REPEATABLE READ a concurrent change makes
 * the lock raise a serialization failure; a subtransaction absorbs it.
 */
#include "postgres.h"

#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/resowner.h"

#include "last_used.h"

#define UPDATE_LAST_USED                                                                           \
	"UPDATE %1$s SET last_used_at = $1"                                                            \
	" WHERE ctid OPERATOR(pg_catalog.=) ("                                                         \
	"  SELECT ctid FROM %1$s"                                                                      \
	"  WHERE ctid OPERATOR(pg_catalog.=) $2 AND id OPERATOR(pg_catalog.=) $3"                      \
	"  FOR NO KEY UPDATE SKIP LOCKED)"

/* The prepared UPDATE, kept for the backend's life, and its table. */
static SPIPlanPtr update_plan = NULL;
static char *update_plan_table = NULL;

static SPIPlanPtr
prepared_update(const char *qualified_table)
{
	Oid argtypes[3] = {TIMESTAMPTZOID, TIDOID, UUIDOID};
	SPIPlanPtr plan;

	if (update_plan != NULL && strcmp(update_plan_table, qualified_table) == 0)
		return update_plan;

	plan = SPI_prepare(psprintf(UPDATE_LAST_USED, qualified_table), 3, argtypes);
	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	if (SPI_keepplan(plan) != 0)
		elog(ERROR, "SPI_keepplan failed");

	if (update_plan != NULL)
		SPI_freeplan(update_plan);
	if (update_plan_table != NULL)
		pfree(update_plan_table);
	update_plan = plan;
	update_plan_table = MemoryContextStrdup(TopMemoryContext, qualified_table);
	return plan;
}

static void
write_last_used(const char *qualified_table, ItemPointer tid, Datum token_id, TimestampTz now)
{
	Datum values[3];
	int rc;

	int guc_level;

	values[0] = TimestampTzGetDatum(now);
	values[1] = PointerGetDatum(tid);
	values[2] = token_id;

	/*
	 * api_token_validate has no SET search_path clause, which would cost
	 * every call; the path is pinned here, around the only statement it
	 * runs.  (The statement names everything with its schema anyway.)
	 */
	guc_level = NewGUCNestLevel();
	(void) set_config_option("search_path", "pg_catalog, pg_temp", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	rc = SPI_execute_plan(prepared_update(qualified_table), values, NULL, false, 0);
	if (rc != SPI_OK_UPDATE)
		elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(rc));
	SPI_finish();
	AtEOXact_GUC(true, guc_level);
}

/* Runs the write in a subtransaction that swallows serialization failures. */
static void
write_last_used_absorbing_conflicts(const char *qualified_table, ItemPointer tid, Datum token_id,
									TimestampTz now)
{
	MemoryContext caller_context = CurrentMemoryContext;
	ResourceOwner caller_owner = CurrentResourceOwner;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(caller_context);
	PG_TRY();
	{
		write_last_used(qualified_table, tid, token_id, now);
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(caller_context);
		CurrentResourceOwner = caller_owner;
	}
	PG_CATCH();
	{
		ErrorData *edata;

		MemoryContextSwitchTo(caller_context);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(caller_context);
		CurrentResourceOwner = caller_owner;
		if (edata->sqlerrcode != ERRCODE_T_R_SERIALIZATION_FAILURE)
			ReThrowError(edata);
		FreeErrorData(edata);
	}
	PG_END_TRY();
}

void
last_used_record(const char *qualified_table, ItemPointer tid, Datum token_id, TimestampTz now)
{
	if (RecoveryInProgress() || XactReadOnly || IsolationIsSerializable())
		return;

	if (IsolationUsesXactSnapshot())
		write_last_used_absorbing_conflicts(qualified_table, tid, token_id, now);
	else
		write_last_used(qualified_table, tid, token_id, now);
}
