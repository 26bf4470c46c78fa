/*
 * idle.c
 *		Inactivity (api_tokens.max_idle, since 1.2): api_tokens_idling lists
 *		the tokens about to go idle, api_tokens_revoke_idle revokes those
 *		that have, recording why.
 *
 * Validation already refuses an idle token (inactive) from the moment it
 * goes idle; the revocation, run by a scheduled job, makes it final and
 * leaves a revoked event with how = idle.  A token is idle when its last
 * use, or its creation if it was never used, is max_idle ago or more.
 */
#include "postgres.h"

#include "access/xact.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

#include "api/idle.h"
#include "api/sql_call.h"
#include "settings.h"
#include "tables/catalog.h"
#include "tables/events.h"
#include "tables/lineage.h"
#include "tables/token_rows.h"

bool
idle_at(const TokenTable *t, RowAccess *ra, TimestampTz *at)
{
	TimestampTz since;

	if (api_tokens_max_idle <= 0)
		return false;
	if (!row_access_get_timestamptz(ra, t->att_last_used_at, &since) &&
		!row_access_get_timestamptz(ra, t->att_created_at, &since))
		since = DT_NOBEGIN; /* neither: idle since ever */
	*at = TIMESTAMP_NOT_FINITE(since) ? since : since + (int64) api_tokens_max_idle * USECS_PER_SEC;
	return true;
}

/* True if the found row is an active, unexpired token not rotated out. */
static bool
is_live(const TokenTable *t, RowAccess *ra, TimestampTz now)
{
	TimestampTz expires_at;
	Rotation rotation;
	Datum id;

	if (!row_access_get_bool(ra, t->att_is_active, false) ||
		(row_access_get_timestamptz(ra, t->att_expires_at, &expires_at) && expires_at <= now))
		return false;
	id = row_access_copy_uuid(ra, t->att_id);
	return id != (Datum) 0 && !lineage_rotated_out(t->namespace, id, &rotation);
}

typedef struct IdleScan
{
	const TokenTable *table;
	TimestampTz now;
	TimestampTz until; /* idling: idle by then; revoking: unused */
	ReturnSetInfo *rsinfo;
	List *ids; /* revoking: the idle ones */
} IdleScan;

static bool
emit_if_idling(RowAccess *ra, void *arg)
{
	IdleScan *scan = arg;
	const TokenTable *t = scan->table;
	TimestampTz at;
	Datum values[5];
	bool nulls[5] = {false, false, false, false, false};

	if (!idle_at(t, ra, &at) || at <= scan->now || at > scan->until || !is_live(t, ra, scan->now))
		return true;
	values[0] = row_access_copy_uuid(ra, t->att_id);
	values[1] = row_access_copy_uuid(ra, t->att_user_id);
	if (values[1] == (Datum) 0)
		return true;
	values[2] = row_access_get(ra, t->att_name, &nulls[2]);
	values[3] = row_access_get(ra, t->att_token_prefix, &nulls[3]);
	values[4] = TimestampTzGetDatum(at);
	tuplestore_putvalues(scan->rsinfo->setResult, scan->rsinfo->setDesc, values, nulls);
	return true;
}

/*
 * SQL: api_tokens_idling(within interval) RETURNS TABLE (token_id uuid,
 *		user_id uuid, name text, token_prefix text, idle_at timestamptz)
 */
PG_FUNCTION_INFO_V1(api_tokens_idling);
Datum
api_tokens_idling(PG_FUNCTION_ARGS)
{
	Oid nspoid = token_table_namespace_of(fcinfo->flinfo->fn_oid);
	Interval *within = sql_required_interval(fcinfo, 0, "within");
	IdleScan scan = {0};
	TokenRows *rows;

	settings_require_idle_policy();
	InitMaterializedSRF(fcinfo, 0);
	rows = token_rows_open(nspoid, false);
	scan.table = rows->table;
	scan.now = GetCurrentTransactionStartTimestamp();
	scan.until = sql_shifted(scan.now, within, true);
	scan.rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	row_access_scan(&rows->ra, InvalidOid, InvalidOid, (Datum) 0, emit_if_idling, &scan);
	token_rows_close(rows);
	return (Datum) 0;
}

static bool
collect_idle(RowAccess *ra, void *arg)
{
	IdleScan *scan = arg;
	TimestampTz at;

	if (idle_at(scan->table, ra, &at) && at <= scan->now && is_live(scan->table, ra, scan->now))
		scan->ids =
			lappend(scan->ids, DatumGetPointer(row_access_copy_uuid(ra, scan->table->att_id)));
	return true;
}

/* SQL: api_tokens_revoke_idle() RETURNS integer */
PG_FUNCTION_INFO_V1(api_tokens_revoke_idle);
Datum
api_tokens_revoke_idle(PG_FUNCTION_ARGS)
{
	Oid nspoid = token_table_namespace_of(fcinfo->flinfo->fn_oid);
	IdleScan scan = {0};
	TokenRows *rows;
	EventWriter events;
	ListCell *lc;
	int count = 0;

	settings_require_idle_policy();
	if (api_tokens_max_idle <= 0)
		PG_RETURN_INT32(0);
	rows = token_rows_open(nspoid, true);
	scan.table = rows->table;
	scan.now = GetCurrentTransactionStartTimestamp();
	row_access_scan(&rows->ra, InvalidOid, InvalidOid, (Datum) 0, collect_idle, &scan);

	events_begin(&events, nspoid);
	foreach (lc, token_rows_sort_ids(scan.ids))
	{
		Datum id = PointerGetDatum(lfirst(lc));
		const TokenTable *t = rows->table;
		AttrNumber column = t->att_is_active;
		Datum inactive = BoolGetDatum(false);
		bool isnull = false;
		TimestampTz at;
		EventDetail detail;

		/* Still live and idle once locked (not used meanwhile)? */
		if (!token_rows_find_by_id(rows, id) || !row_access_lock_for_change(&rows->ra) ||
			!row_access_uuid_equals(&rows->ra, t->att_id, id) || !idle_at(t, &rows->ra, &at) ||
			at > scan.now || !is_live(t, &rows->ra, scan.now))
			continue;
		row_access_update(&rows->ra, 1, &column, &inactive, &isnull);
		event_detail_init(&detail);
		event_detail_text(&detail, "how", "idle");
		if (!TIMESTAMP_NOT_FINITE(at))
			event_detail_timestamptz(&detail, "idle_at", at);
		events_add(&events, "revoked", id, row_access_copy_uuid(&rows->ra, t->att_user_id),
				   &detail);
		count++;
	}
	events_end(&events);
	token_rows_close(rows);
	PG_RETURN_INT32(count);
}
