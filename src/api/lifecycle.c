/*
 * lifecycle.c
 *		The end of a token's life: api_tokens_expiring (notices before
 *		expiry) and api_tokens_purge (deleting tokens long dead).
 */
#include "postgres.h"

#include "access/table.h"
#include "access/xact.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"
#include "utils/uuid.h"

#include "api/sql_call.h"
#include "tables/catalog.h"
#include "tables/events.h"
#include "tables/limit_rows.h"
#include "tables/lineage.h"
#include "tables/token_rows.h"

typedef struct ExpiringScan
{
	const TokenTable *table;
	TimestampTz now;
	TimestampTz until;
	ReturnSetInfo *rsinfo;
} ExpiringScan;

static bool
emit_if_expiring(RowAccess *ra, void *arg)
{
	ExpiringScan *scan = arg;
	const TokenTable *t = scan->table;
	TimestampTz expires_at;
	Rotation rotation;
	Datum values[5];
	bool nulls[5] = {false, false, false, false, false};

	if (!row_access_get_bool(ra, t->att_is_active, false) ||
		!row_access_get_timestamptz(ra, t->att_expires_at, &expires_at) ||
		expires_at <= scan->now || expires_at > scan->until)
		return true;
	values[0] = row_access_copy_uuid(ra, t->att_id);
	values[1] = row_access_copy_uuid(ra, t->att_user_id);
	/* A token rotated out expires at the end of its grace: no notice for it. */
	if (values[0] == (Datum) 0 || values[1] == (Datum) 0 ||
		lineage_rotated_out(t->namespace, values[0], &rotation))
		return true;
	values[2] = row_access_get(ra, t->att_name, &nulls[2]);
	values[3] = row_access_get(ra, t->att_token_prefix, &nulls[3]);
	values[4] = TimestampTzGetDatum(expires_at);
	tuplestore_putvalues(scan->rsinfo->setResult, scan->rsinfo->setDesc, values, nulls);
	return true;
}

/*
 * SQL: api_tokens_expiring(within interval) RETURNS TABLE (token_id uuid,
 *		user_id uuid, name text, token_prefix text, expires_at timestamptz)
 */
PG_FUNCTION_INFO_V1(api_tokens_expiring);
Datum
api_tokens_expiring(PG_FUNCTION_ARGS)
{
	Oid nspoid = token_table_namespace_of(fcinfo->flinfo->fn_oid);
	Interval *within = sql_required_interval(fcinfo, 0, "within");
	ExpiringScan scan;
	TokenRows *rows;

	InitMaterializedSRF(fcinfo, 0);
	rows = token_rows_open(nspoid, false);
	scan.table = rows->table;
	scan.now = GetCurrentTransactionStartTimestamp();
	scan.until = sql_shifted(scan.now, within, true);
	scan.rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	row_access_scan(&rows->ra, InvalidOid, InvalidOid, (Datum) 0, emit_if_expiring, &scan);
	token_rows_close(rows);
	return (Datum) 0;
}

/* When a token stopped working, and why (expired, revoked or rotated). */
typedef struct Ended
{
	TimestampTz at;
	const char *reason;
} Ended;

/* Keeps the earlier of two ends. */
static void
keep_earlier(Ended *ended, TimestampTz at, const char *reason)
{
	if (ended->reason == NULL || at < ended->at)
	{
		ended->at = at;
		ended->reason = reason;
	}
}

typedef struct LatestDeactivation
{
	const EventsTable *events;
	TimestampTz at;
	bool rotated; /* the latest was a rotation, not a revocation */
	bool found;
} LatestDeactivation;

static bool
note_deactivation(RowAccess *ra, void *arg)
{
	LatestDeactivation *latest = arg;
	bool isnull;
	Datum event = row_access_get(ra, latest->events->att_event, &isnull);
	TimestampTz at;
	char *name;

	if (isnull || !row_access_get_timestamptz(ra, latest->events->att_at, &at))
		return true;
	name = TextDatumGetCString(event);
	if ((strcmp(name, "revoked") == 0 || strcmp(name, "rotated") == 0) &&
		(!latest->found || at > latest->at))
	{
		latest->at = at;
		latest->rotated = name[1] == 'o';
		latest->found = true;
	}
	return true;
}

/*
 * When, and why, the inactive token in tokens' slot was deactivated: its
 * latest revoked or rotated event; without one (revoked before 1.1, or by
 * a direct UPDATE), the latest time it is known to have been active, its
 * last use or its creation.
 */
static TimestampTz
deactivated_at(const TokenTable *t, RowAccess *tokens, Datum id, const char **reason)
{
	const ExtTables *tables = ext_tables_of(t->namespace);
	LatestDeactivation latest = {&tables->events, 0, false, false};
	TimestampTz at = DT_NOBEGIN;
	TimestampTz ts;

	if (tables->present)
	{
		Relation rel = table_open(tables->events.relid, AccessShareLock);
		RowAccess ra;

		row_access_begin(&ra, rel, tables->events.owner, false);
		row_access_scan(&ra, tables->events.by_token, F_UUID_EQ, id, note_deactivation, &latest);
		row_access_end(&ra);
		table_close(rel, NoLock);
		if (latest.found)
		{
			*reason = latest.rotated ? "rotated" : "revoked";
			return latest.at;
		}
	}
	*reason = "revoked";
	if (row_access_get_timestamptz(tokens, t->att_created_at, &ts) && ts > at)
		at = ts;
	if (row_access_get_timestamptz(tokens, t->att_last_used_at, &ts) && ts > at)
		at = ts;
	return at;
}

/* True if the token in tokens' slot has stopped working, and when and why. */
static bool
token_ended(const TokenTable *t, RowAccess *tokens, TimestampTz now, Ended *ended)
{
	Datum id = row_access_copy_uuid(tokens, t->att_id);
	bool active = row_access_get_bool(tokens, t->att_is_active, false);
	TimestampTz expires_at;
	bool expired =
		row_access_get_timestamptz(tokens, t->att_expires_at, &expires_at) && expires_at <= now;
	Rotation rotation;
	const char *why;

	ended->reason = NULL;
	if (id == (Datum) 0 || (active && !expired))
		return false;
	/* A token rotated out with grace expires at the end of it. */
	if (expired)
		keep_earlier(ended, expires_at,
					 lineage_rotated_out(t->namespace, id, &rotation) ? "rotated" : "expired");
	if (!active)
	{
		TimestampTz at = deactivated_at(t, tokens, id, &why);

		keep_earlier(ended, at, why);
	}
	return true;
}

typedef struct PurgeScan
{
	const TokenTable *table;
	TimestampTz now;
	TimestampTz cutoff;
	List *ids;
} PurgeScan;

static bool
collect_dead(RowAccess *ra, void *arg)
{
	PurgeScan *scan = arg;
	Ended ended;

	if (token_ended(scan->table, ra, scan->now, &ended) && ended.at < scan->cutoff)
		scan->ids =
			lappend(scan->ids, DatumGetPointer(row_access_copy_uuid(ra, scan->table->att_id)));
	return true;
}

/* The tokens one purge deleted (sorted), and the table they were deleted from. */
typedef struct Purged
{
	List *ids;
	TokenRows *rows;
} Purged;

/* True if the token was deleted by this purge, or earlier (purged, or with its user). */
static bool
purged_or_missing(Datum token_id, void *arg)
{
	Purged *purged = arg;
	int low = 0;
	int high = list_length(purged->ids) - 1;

	while (low <= high)
	{
		int middle = (low + high) / 2;
		int cmp = memcmp(list_nth(purged->ids, middle), DatumGetPointer(token_id), UUID_LEN);

		if (cmp == 0)
			return true;
		if (cmp < 0)
			low = middle + 1;
		else
			high = middle - 1;
	}
	return !token_rows_find_by_id(purged->rows, token_id);
}

/* SQL: api_tokens_purge(older_than interval DEFAULT '30 days') RETURNS integer */
PG_FUNCTION_INFO_V1(api_tokens_purge);
Datum
api_tokens_purge(PG_FUNCTION_ARGS)
{
	Oid nspoid = token_table_namespace_of(fcinfo->flinfo->fn_oid);
	Interval *older_than = sql_required_interval(fcinfo, 0, "older_than");
	PurgeScan scan;
	TokenRows *rows;
	EventWriter events;
	ListCell *lc;
	Purged purged = {NIL, NULL};

	rows = token_rows_open(nspoid, true);
	scan.table = rows->table;
	scan.now = GetCurrentTransactionStartTimestamp();
	scan.cutoff = sql_shifted(scan.now, older_than, false);
	scan.ids = NIL;
	row_access_scan(&rows->ra, InvalidOid, InvalidOid, (Datum) 0, collect_dead, &scan);

	events_begin(&events, nspoid);
	foreach (lc, token_rows_sort_ids(scan.ids))
	{
		Datum id = PointerGetDatum(lfirst(lc));
		Datum user_id;
		Ended ended;
		EventDetail detail;

		/* Still dead once locked (not reactivated meanwhile)? */
		if (!token_rows_find_by_id(rows, id) || !row_access_lock_for_change(&rows->ra) ||
			!token_ended(rows->table, &rows->ra, scan.now, &ended) || ended.at >= scan.cutoff)
			continue;
		user_id = row_access_copy_uuid(&rows->ra, rows->table->att_user_id);
		row_access_delete(&rows->ra);
		event_detail_init(&detail);
		event_detail_text(&detail, "reason", ended.reason);
		event_detail_timestamptz(&detail, "ended_at", ended.at);
		events_add(&events, "purged", id, user_id, &detail);
		purged.ids = lappend(purged.ids, DatumGetPointer(id));
	}
	events_end(&events);
	/* Rotations stay while one of their tokens is left (lineage.c). */
	purged.rows = rows;
	foreach (lc, purged.ids)
		lineage_forget(nspoid, PointerGetDatum(lfirst(lc)), purged_or_missing, &purged);
	/* And the limits of every token no longer there (since 1.2). */
	(void) limit_rows_forget(ext_tables_of(nspoid), purged_or_missing, &purged);
	token_rows_close(rows);
	PG_RETURN_INT32(list_length(purged.ids));
}
