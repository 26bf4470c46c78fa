/*
 * rotate.c
 *		Rotation: api_token_rotate and api_token_successor.
 *
 * A rotation issues a successor with the same user, name and scopes, and
 * stops the old token at once or after a grace period.  Since 1.1 it is
 * recorded in api_token_rotations, and a token can be rotated only once:
 * a lineage never forks.  In a database still at 1.0 there is no lineage
 * and rotation behaves as it did.
 */
#include "postgres.h"

#include "access/xact.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/fmgrprotos.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#include "api/issue.h"
#include "api/sql_call.h"
#include "compat.h"
#include "tables/catalog.h"
#include "engine/limit_table.h"
#include "tables/limit_rows.h"
#include "tables/lineage.h"
#include "tables/revocation.h"

static const char *
uuid_text(Datum uuid)
{
	return DatumGetCString(DirectFunctionCall1(uuid_out, uuid));
}

compat_noreturn static void no_such_token(Datum id) compat_noreturn_attr;

static void
no_such_token(Datum id)
{
	ereport(ERROR,
			(errcode(ERRCODE_NO_DATA_FOUND), errmsg("token %s does not exist", uuid_text(id))));
}

/* Refuses to rotate a token that already has a successor (a lineage never forks). */
static void
refuse_second_rotation(Oid nspoid, Datum id)
{
	Rotation rotation;

	if (lineage_rotated_out(nspoid, id, &rotation))
		ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
						errmsg("token %s was already rotated", uuid_text(id)),
						errdetail("Its successor is token %s.", uuid_text(rotation.successor)),
						errhint("Rotate the successor instead.")));
}

/* The end of a grace period starting now: never later than the token's own expiry. */
static TimestampTz
grace_end(Interval *grace, bool has_expiry, TimestampTz expiry)
{
	TimestampTz txn_time = GetCurrentTransactionStartTimestamp();
	TimestampTz end = DatumGetTimestampTz(DirectFunctionCall2(
		timestamptz_pl_interval, TimestampTzGetDatum(txn_time), IntervalPGetDatum(grace)));

	return has_expiry && expiry < end ? expiry : end;
}

/* The old token's state as this call first read it, and once locked. */
typedef struct RotatedToken
{
	Datum id;
	bool has_expiry;
	TimestampTz expires_at;
} RotatedToken;

/*
 * Finds and locks the token to rotate, taking the per-user lock first, and
 * checks that it can be rotated: it exists, has no successor yet, is active
 * and unexpired, and did not change between the first read and the lock.
 * Fills *old and successor->user_id.
 */
static void
lock_token_to_rotate(TokenRows *rows, Oid nspoid, Datum old_id, RotatedToken *old,
					 NewTokenRow *successor)
{
	const TokenTable *t = rows->table;
	TimestampTz txn_time = GetCurrentTransactionStartTimestamp();
	bool seen_active;
	bool seen_has_expiry;
	TimestampTz seen_expiry;

	if (!token_rows_find_by_id(rows, old_id))
		no_such_token(old_id);
	/* The state this call set out to rotate ... */
	seen_active = row_access_get_bool(&rows->ra, t->att_is_active, false);
	seen_has_expiry = row_access_get_timestamptz(&rows->ra, t->att_expires_at, &seen_expiry);
	successor->user_id = row_access_copy_uuid(&rows->ra, t->att_user_id);
	if (successor->user_id == (Datum) 0)
		ereport(ERROR, (errcode(ERRCODE_NOT_NULL_VIOLATION),
						errmsg("the api_tokens row of this token has a NULL user_id")));

	revocation_lock_user(successor->user_id, false);
	if (!row_access_lock_for_change(&rows->ra) ||
		!row_access_uuid_equals(&rows->ra, t->att_id, old_id))
		no_such_token(old_id);
	/* Looked up after the lock, so a rotation that won meanwhile is seen. */
	refuse_second_rotation(nspoid, old_id);
	old->id = old_id;
	old->has_expiry = row_access_get_timestamptz(&rows->ra, t->att_expires_at, &old->expires_at);
	if (!row_access_get_bool(&rows->ra, t->att_is_active, false) ||
		(old->has_expiry && old->expires_at <= txn_time))
		ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
						errmsg("token %s is not active", uuid_text(old_id)),
						errdetail("Only an active, unexpired token can be rotated.")));
	/*
	 * ... must still be the state once locked: of concurrent rotations and
	 * revocations of one token, exactly one wins.  A recorded use (a new
	 * last_used_at) changes nothing that matters here.
	 */
	if (!seen_active || seen_has_expiry != old->has_expiry ||
		(old->has_expiry && seen_expiry != old->expires_at))
		ereport(ERROR,
				(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
				 errmsg("token %s was changed by a concurrent transaction", uuid_text(old_id)),
				 errhint("Retry the rotation.")));
}

/*
 * The rest of the successor's row, from the locked old token: its name and
 * scopes, and its expiry unless the caller gave one (either way under
 * api_tokens.max_lifetime).
 */
static void
describe_successor(TokenRows *rows, const RotatedToken *old, NewTokenRow *successor)
{
	const TokenTable *t = rows->table;
	bool isnull;
	Datum name;
	Datum scopes;

	if (!successor->has_expiry)
	{
		successor->has_expiry = old->has_expiry;
		successor->expires_at = old->expires_at;
		issue_expiry(&successor->has_expiry, &successor->expires_at, true);
	}
	else
		issue_expiry(&successor->has_expiry, &successor->expires_at, false);
	name = row_access_get(&rows->ra, t->att_name, &isnull);
	successor->name = isnull ? cstring_to_text("") : DatumGetTextPCopy(name);
	scopes = row_access_get(&rows->ra, t->att_scopes, &isnull);
	successor->scopes = isnull ? NULL : DatumGetArrayTypePCopy(scopes);
}

/* Stops the locked old token at once, or at the end of the grace period. */
static void
stop_old_token(TokenRows *rows, const Rotation *rotation)
{
	bool at_once = rotation->grace_ends_at <= rotation->rotated_at;
	AttrNumber column = at_once ? rows->table->att_is_active : rows->table->att_expires_at;
	Datum value = at_once ? BoolGetDatum(false) : TimestampTzGetDatum(rotation->grace_ends_at);
	bool value_null = false;

	row_access_update(&rows->ra, 1, &column, &value, &value_null);
}

/* LimitBalance: the old token's credits as counted, in shared memory when preloaded. */
static void
counted_balance(const CreditsRow *row, int64 *remaining, TimestampTz *refilled_at, void *arg)
{
	const UseKey *key = arg;
	TimestampTz now = GetCurrentTimestamp();

	if (!use_table_enabled() || !limit_table_balance(key, row, now, remaining, refilled_at))
		(void) limit_rows_refill(row, now, remaining, refilled_at);
}

/*
 * The successor gets the old token's limits, and its credits as counted
 * now: rotating never lifts a limit.
 */
static void
carry_limits(Oid nspoid, const Rotation *rotation)
{
	const ExtTables *tables = ext_tables_of(nspoid);
	UseKey key;

	if (!tables->has_limits)
		return;
	memset(&key, 0, sizeof(key));
	key.dboid = MyDatabaseId;
	key.nspoid = nspoid;
	memcpy(key.token_id.data, DatumGetUUIDP(rotation->predecessor)->data, UUID_LEN);
	limit_rows_carry(tables, rotation->predecessor, rotation->successor, counted_balance, &key);
}

/* The rotated event of the old token and the created event of its successor. */
static void
record_rotation_events(Oid nspoid, const Rotation *rotation, const NewTokenRow *successor)
{
	EventWriter events;
	EventDetail detail;

	events_begin(&events, nspoid);
	event_detail_init(&detail);
	event_detail_uuid(&detail, "successor_id", rotation->successor);
	event_detail_timestamptz(&detail, "grace_ends_at", rotation->grace_ends_at);
	events_add(&events, "rotated", rotation->predecessor, successor->user_id, &detail);
	event_detail_init(&detail);
	event_detail_uuid(&detail, "rotated_from", rotation->predecessor);
	if (successor->has_expiry)
		event_detail_timestamptz(&detail, "expires_at", successor->expires_at);
	events_add(&events, "created", rotation->successor, successor->user_id, &detail);
	events_end(&events);
}

/*
 * SQL: api_token_rotate(token_id uuid, grace interval DEFAULT '0',
 *		expires_at timestamptz DEFAULT NULL) RETURNS TABLE (token_id uuid, token text)
 * (1.0 had the first two arguments only.)
 */
PG_FUNCTION_INFO_V1(api_token_rotate);
Datum
api_token_rotate(PG_FUNCTION_ARGS)
{
	Oid nspoid = token_table_namespace_of(fcinfo->flinfo->fn_oid);
	Interval zero = {0};
	Interval *grace;
	TokenRows *rows;
	RotatedToken old;
	NewTokenRow successor = {0};
	IssuedToken issued;
	Rotation rotation;

	sql_require_set_context(fcinfo, "api_token_rotate");
	sql_require_not_null(fcinfo, 0, "token_id");
	sql_require_not_null(fcinfo, 1, "grace");
	grace = PG_GETARG_INTERVAL_P(1);
	if (DatumGetBool(
			DirectFunctionCall2(interval_lt, IntervalPGetDatum(grace), IntervalPGetDatum(&zero))))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("grace must not be negative")));
	successor.has_expiry = PG_NARGS() > 2 && !PG_ARGISNULL(2);
	successor.expires_at = successor.has_expiry ? PG_GETARG_TIMESTAMPTZ(2) : 0;

	rows = token_rows_open(nspoid, true);
	lock_token_to_rotate(rows, nspoid, PG_GETARG_DATUM(0), &old, &successor);
	describe_successor(rows, &old, &successor);

	rotation.predecessor = old.id;
	rotation.rotated_at = GetCurrentTransactionStartTimestamp();
	rotation.grace_ends_at = grace_end(grace, old.has_expiry, old.expires_at);
	stop_old_token(rows, &rotation);
	issued = issue_token(rows, &successor);
	rotation.successor = issued.id;
	lineage_record(nspoid, &rotation);
	carry_limits(nspoid, &rotation);
	record_rotation_events(nspoid, &rotation, &successor);
	token_rows_close(rows);
	return sql_new_token_row(fcinfo, issued.id, issued.token);
}

/* SQL: api_token_successor(token_id uuid) RETURNS uuid */
PG_FUNCTION_INFO_V1(api_token_successor);
Datum
api_token_successor(PG_FUNCTION_ARGS)
{
	Rotation rotation;

	if (!lineage_rotated_out(token_table_namespace_of(fcinfo->flinfo->fn_oid), PG_GETARG_DATUM(0),
							 &rotation))
		PG_RETURN_NULL();
	PG_RETURN_DATUM(rotation.successor);
}
