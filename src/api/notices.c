/*
 * notices.c
 *		api_tokens_send_notices (since 1.2): an event, and a NOTIFY, before a
 *		token expires or goes idle, once per offset.
 *
 * For each active token whose deadline (expires_at, or the moment it goes
 * idle under api_tokens.max_idle) lies ahead, the notice is that of the
 * smallest offset the time left fits in: a token that expires in 5 days
 * gets the 7-day notice, not also the 60- and 30-day ones.  It is sent
 * once: not again if an event of that kind was recorded since the offset's
 * window opened (deadline - offset).  A token used again goes idle later,
 * and its notices come again as the new deadline nears.
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "api/idle.h"
#include "api/sql_call.h"
#include "settings.h"
#include "tables/catalog.h"
#include "tables/events.h"
#include "tables/limit_rows.h"
#include "tables/lineage.h"
#include "tables/token_rows.h"

/* Most offsets one call takes. */
#define MAX_OFFSETS 32

typedef struct Offsets
{
	int n;
	Interval *offsets[MAX_OFFSETS]; /* shortest first */
} Offsets;

static int
compare_intervals(const void *a, const void *b)
{
	return DatumGetInt32(DirectFunctionCall2(interval_cmp,
											 IntervalPGetDatum(*(Interval *const *) a),
											 IntervalPGetDatum(*(Interval *const *) b)));
}

static void
read_offsets(FunctionCallInfo fcinfo, Offsets *out)
{
	Datum *elems;
	bool *nulls;
	int n;
	Interval zero = {0};

	sql_require_not_null(fcinfo, 0, "offsets");
	deconstruct_array(PG_GETARG_ARRAYTYPE_P(0), INTERVALOID, sizeof(Interval), false,
					  TYPALIGN_DOUBLE, &elems, &nulls, &n);
	if (n > MAX_OFFSETS)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("offsets must not have more than %d entries", MAX_OFFSETS)));
	out->n = 0;
	for (int i = 0; i < n; i++)
	{
		if (nulls[i] ||
			DatumGetBool(DirectFunctionCall2(interval_le, elems[i], IntervalPGetDatum(&zero))))
			ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							errmsg("each offset must be longer than 0")));
		out->offsets[out->n++] = DatumGetIntervalP(elems[i]);
	}
	qsort(out->offsets, out->n, sizeof(Interval *), compare_intervals);
}

typedef struct Notice
{
	const char *event;		  /* expiry_notice or idle_notice */
	const char *deadline_key; /* expires_at or idle_at */
	TimestampTz deadline;
} Notice;

typedef struct Candidate
{
	Datum token_id;
	Datum user_id;
	Notice notices[2];
	int n;
} Candidate;

typedef struct NoticeScan
{
	const TokenTable *table;
	TimestampTz now;
	List *candidates;
} NoticeScan;

static bool
collect_candidate(RowAccess *ra, void *arg)
{
	NoticeScan *scan = arg;
	const TokenTable *t = scan->table;
	Candidate c = {0};
	TimestampTz at;
	Rotation rotation;

	if (!row_access_get_bool(ra, t->att_is_active, false))
		return true;
	if (row_access_get_timestamptz(ra, t->att_expires_at, &at))
	{
		if (at <= scan->now)
			return true;
		c.notices[c.n++] = (Notice){"expiry_notice", "expires_at", at};
	}
	if (idle_at(t, ra, &at) && at > scan->now && !TIMESTAMP_NOT_FINITE(at))
		c.notices[c.n++] = (Notice){"idle_notice", "idle_at", at};
	if (c.n == 0)
		return true;
	c.token_id = row_access_copy_uuid(ra, t->att_id);
	c.user_id = row_access_copy_uuid(ra, t->att_user_id);
	/* A token rotated out stops at the end of its grace: its successor gets the notices. */
	if (c.token_id == (Datum) 0 || lineage_rotated_out(t->namespace, c.token_id, &rotation))
		return true;
	{
		Candidate *copy = palloc(sizeof(Candidate));

		*copy = c;
		scan->candidates = lappend(scan->candidates, copy);
	}
	return true;
}

/* Records the notice if one of its offsets is due and not sent yet; true if recorded. */
static bool
send_notice(Oid nspoid, EventWriter *events, const Candidate *c, const Notice *notice,
			const Offsets *offsets, TimestampTz now)
{
	for (int i = 0; i < offsets->n; i++)
	{
		TimestampTz opened = sql_shifted(notice->deadline, offsets->offsets[i], false);
		EventDetail detail;

		if (now < opened)
			continue; /* not within this offset: maybe within a longer one */
		if (events_recorded_since(nspoid, c->token_id, notice->event, opened))
			return false;
		event_detail_init(&detail);
		/* In seconds (months of 30 days): the same whatever the session's IntervalStyle. */
		event_detail_int(&detail, "offset_seconds",
						 limit_interval_us(IntervalPGetDatum(offsets->offsets[i])) / USECS_PER_SEC);
		event_detail_timestamptz(&detail, notice->deadline_key, notice->deadline);
		events_add(events, notice->event, c->token_id, c->user_id, &detail);
		return true;
	}
	return false;
}

/* SQL: api_tokens_send_notices(offsets interval[] DEFAULT '{60 days,30 days,7 days}') RETURNS
 * integer */
PG_FUNCTION_INFO_V1(api_tokens_send_notices);
Datum
api_tokens_send_notices(PG_FUNCTION_ARGS)
{
	Oid nspoid = token_table_namespace_of(fcinfo->flinfo->fn_oid);
	Offsets offsets;
	NoticeScan scan = {0};
	TokenRows *rows;
	EventWriter events;
	ListCell *lc;
	int count = 0;

	settings_require_idle_policy();
	read_offsets(fcinfo, &offsets);
	rows = token_rows_open(nspoid, false);
	scan.table = rows->table;
	scan.now = GetCurrentTransactionStartTimestamp();
	row_access_scan(&rows->ra, InvalidOid, InvalidOid, (Datum) 0, collect_candidate, &scan);
	token_rows_close(rows);

	events_begin(&events, nspoid);
	foreach (lc, scan.candidates)
	{
		const Candidate *c = lfirst(lc);

		CHECK_FOR_INTERRUPTS();
		for (int i = 0; i < c->n; i++)
			count += send_notice(nspoid, &events, c, &c->notices[i], &offsets, scan.now) ? 1 : 0;
	}
	events_end(&events);
	PG_RETURN_INT32(count);
}
