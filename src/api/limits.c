/*
 * limits.c
 *		Setting a token's limits (since 1.2): api_token_set_rate_limit,
 *		api_token_set_credits and api_token_set_allowed_addresses.
 *
 * SECURITY DEFINER, granted to nobody by the install: whoever may set a
 * token's limits may also lift them.  Each call locks the token's row, so
 * that setters of one token wait for each other and a revocation or
 * rotation running at the same time is ordered with it, and records a
 * limits_set event.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#include "api/sql_call.h"
#include "compat.h"
#include "engine/use_table.h"
#include "tables/catalog.h"
#include "tables/events.h"
#include "tables/limit_rows.h"
#include "tables/token_rows.h"

/* Most entries of an allowlist (the table's CHECK says the same). */
#define MAX_ALLOWED_ADDRESSES 1000
/* The longest rate window (the table's CHECK says the same). */
#define MAX_RATE_WINDOW_US (INT64CONST(366) * USECS_PER_DAY)

static const char *const limit_names[] = {
	[LIMIT_RATE] = "rate",
	[LIMIT_CREDITS] = "credits",
	[LIMIT_ADDRESSES] = "addresses",
};

compat_noreturn static void refuse(const char *message) compat_noreturn_attr;

static void
refuse(const char *message)
{
	ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("%s", message)));
}

/* Locks the token's row, changes its limit and records the event. */
static void
set_limit(FunctionCallInfo fcinfo, const LimitChange *change)
{
	Oid nspoid = token_table_namespace_of(fcinfo->flinfo->fn_oid);
	Datum token_id = PG_GETARG_DATUM(0);
	const ExtTables *tables = ext_tables_of(nspoid);
	TokenRows *rows;
	Datum user_id;
	EventWriter events;
	EventDetail detail;

	if (!tables->has_limits)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED), errmsg("token limits need api_tokens 1.2"),
				 errhint("ALTER EXTENSION api_tokens UPDATE TO '1.2';")));
	rows = token_rows_open(nspoid, true);
	if (!token_rows_find_by_id(rows, token_id) || !row_access_lock_for_change(&rows->ra) ||
		!row_access_uuid_equals(&rows->ra, rows->table->att_id, token_id))
		ereport(ERROR, (errcode(ERRCODE_NO_DATA_FOUND),
						errmsg("token %s does not exist",
							   DatumGetCString(DirectFunctionCall1(uuid_out, token_id)))));
	user_id = row_access_copy_uuid(&rows->ra, rows->table->att_user_id);
	limit_rows_set(tables, token_id, change);

	events_begin(&events, nspoid);
	event_detail_init(&detail);
	event_detail_text(&detail, "limit", limit_names[change->kind]);
	event_detail_text(&detail, "change", change->remove ? "removed" : "set");
	events_add(&events, "limits_set", token_id, user_id, &detail);
	events_end(&events);
	token_rows_close(rows);
}

/* An interval argument of a limit: positive, at most max_us when max_us > 0. */
static Datum
interval_argument(FunctionCallInfo fcinfo, int argno, const char *name, int64 max_us)
{
	int64 us;

	sql_require_not_null(fcinfo, argno, name);
	us = limit_interval_us(PG_GETARG_DATUM(argno));
	if (us <= 0)
		refuse(psprintf("%s must be longer than 0", name));
	if (max_us > 0 && us > max_us)
		refuse(psprintf("%s must not be longer than 366 days", name));
	return PG_GETARG_DATUM(argno);
}

/* SQL: api_token_set_rate_limit(token_id uuid, max_requests integer, per interval) RETURNS void */
PG_FUNCTION_INFO_V1(api_token_set_rate_limit);
Datum
api_token_set_rate_limit(PG_FUNCTION_ARGS)
{
	LimitChange change = {.kind = LIMIT_RATE};

	sql_require_not_null(fcinfo, 0, "token_id");
	change.remove = PG_ARGISNULL(1);
	if (!change.remove)
	{
		change.rate_limit = PG_GETARG_INT32(1);
		if (change.rate_limit <= 0)
			refuse("max_requests must be greater than 0");
		change.rate_window = interval_argument(fcinfo, 2, "per", MAX_RATE_WINDOW_US);
		if (!use_table_enabled())
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("rate limits are counted only with the library preloaded"),
					 errhint("Add api_tokens to shared_preload_libraries and restart the server; "
							 "credits and allowlists work without.")));
	}
	set_limit(fcinfo, &change);
	PG_RETURN_VOID();
}

/*
 * SQL: api_token_set_credits(token_id uuid, remaining bigint,
 *		refill bigint DEFAULT NULL, refill_every interval DEFAULT NULL) RETURNS void
 */
PG_FUNCTION_INFO_V1(api_token_set_credits);
Datum
api_token_set_credits(PG_FUNCTION_ARGS)
{
	LimitChange change = {.kind = LIMIT_CREDITS};

	sql_require_not_null(fcinfo, 0, "token_id");
	change.remove = PG_ARGISNULL(1);
	if (!change.remove)
	{
		change.credits = PG_GETARG_INT64(1);
		if (change.credits < 0)
			refuse("remaining must not be negative");
		change.has_refill = !PG_ARGISNULL(2) || !PG_ARGISNULL(3);
		if (change.has_refill)
		{
			sql_require_not_null(fcinfo, 2, "refill");
			change.refill = PG_GETARG_INT64(2);
			if (change.refill < 0)
				refuse("refill must not be negative");
			change.refill_every = interval_argument(fcinfo, 3, "refill_every", 0);
		}
	}
	set_limit(fcinfo, &change);
	PG_RETURN_VOID();
}

/* SQL: api_token_set_allowed_addresses(token_id uuid, addresses cidr[]) RETURNS void */
PG_FUNCTION_INFO_V1(api_token_set_allowed_addresses);
Datum
api_token_set_allowed_addresses(PG_FUNCTION_ARGS)
{
	LimitChange change = {.kind = LIMIT_ADDRESSES};

	sql_require_not_null(fcinfo, 0, "token_id");
	change.remove = PG_ARGISNULL(1);
	if (!change.remove)
	{
		ArrayType *addresses = PG_GETARG_ARRAYTYPE_P(1);

		if (ARR_NDIM(addresses) > 1)
			refuse("addresses must have one dimension");
		if (ArrayGetNItems(ARR_NDIM(addresses), ARR_DIMS(addresses)) > MAX_ALLOWED_ADDRESSES)
			refuse(psprintf("addresses must not have more than %d entries", MAX_ALLOWED_ADDRESSES));
		if (array_contains_nulls(addresses))
			refuse("addresses must not contain NULL");
		change.addresses = PointerGetDatum(addresses);
	}
	set_limit(fcinfo, &change);
	PG_RETURN_VOID();
}
