/*
 * rotate.c
 *		Rotation and lineages: api_token_rotate, api_token_revoke_family,
 *		api_token_successor.
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
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/fmgrprotos.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#include "compat.h"
#include "lineage.h"
#include "manage.h"
#include "rotate.h"
#include "result.h"
#include "token_table.h"

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
	TimestampTz txn_time = GetCurrentTransactionStartTimestamp();
	Datum old_id;
	Interval *grace;
	Interval zero = {0};
	TokenRows *rows;
	const TokenTable *t;
	bool seen_active;
	bool seen_has_expiry;
	TimestampTz seen_expiry;
	bool has_expiry;
	TimestampTz expiry;
	NewTokenRow successor = {0};
	IssuedToken issued;
	Rotation rotation;
	EventWriter events;
	EventDetail detail;
	bool isnull;

	result_require_set_context(fcinfo, "api_token_rotate");
	manage_require_not_null(fcinfo, 0, "token_id");
	manage_require_not_null(fcinfo, 1, "grace");
	old_id = PG_GETARG_DATUM(0);
	grace = PG_GETARG_INTERVAL_P(1);
	if (DatumGetBool(
			DirectFunctionCall2(interval_lt, IntervalPGetDatum(grace), IntervalPGetDatum(&zero))))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("grace must not be negative")));
	successor.has_expiry = PG_NARGS() > 2 && !PG_ARGISNULL(2);
	successor.expires_at = successor.has_expiry ? PG_GETARG_TIMESTAMPTZ(2) : 0;

	rows = token_rows_open(nspoid, true);
	t = rows->table;
	if (!token_rows_find_by_id(rows, old_id))
		no_such_token(old_id);
	/* The state this call set out to rotate ... */
	seen_active = row_access_get_bool(&rows->ra, t->att_is_active, false);
	seen_has_expiry = row_access_get_timestamptz(&rows->ra, t->att_expires_at, &seen_expiry);
	successor.user_id = row_access_copy_uuid(&rows->ra, t->att_user_id);
	if (successor.user_id == (Datum) 0)
		ereport(ERROR, (errcode(ERRCODE_NOT_NULL_VIOLATION),
						errmsg("the api_tokens row of this token has a NULL user_id")));

	manage_lock_user(successor.user_id, false);
	if (!row_access_lock_for_change(&rows->ra) ||
		!row_access_uuid_equals(&rows->ra, t->att_id, old_id))
		no_such_token(old_id);
	/* Looked up after the lock, so a rotation that won meanwhile is seen. */
	refuse_second_rotation(nspoid, old_id);
	has_expiry = row_access_get_timestamptz(&rows->ra, t->att_expires_at, &expiry);
	if (!row_access_get_bool(&rows->ra, t->att_is_active, false) ||
		(has_expiry && expiry <= txn_time))
		ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
						errmsg("token %s is not active", uuid_text(old_id)),
						errdetail("Only an active, unexpired token can be rotated.")));
	/*
	 * ... must still be the state once locked: of concurrent rotations and
	 * revocations of one token, exactly one wins.  A recorded use (a new
	 * last_used_at) changes nothing that matters here.
	 */
	if (!seen_active || seen_has_expiry != has_expiry || (has_expiry && seen_expiry != expiry))
		ereport(ERROR,
				(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
				 errmsg("token %s was changed by a concurrent transaction", uuid_text(old_id)),
				 errhint("Retry the rotation.")));

	/* The successor keeps the old expiry unless given another. */
	if (!successor.has_expiry)
	{
		successor.has_expiry = has_expiry;
		successor.expires_at = expiry;
		manage_expiry(&successor.has_expiry, &successor.expires_at, true);
	}
	else
		manage_expiry(&successor.has_expiry, &successor.expires_at, false);
	{
		Datum name = row_access_get(&rows->ra, t->att_name, &isnull);
		Datum scopes;

		successor.name = isnull ? cstring_to_text("") : DatumGetTextPCopy(name);
		scopes = row_access_get(&rows->ra, t->att_scopes, &isnull);
		successor.scopes = isnull ? NULL : DatumGetArrayTypePCopy(scopes);
	}

	/* Stop the old token at once, or at the end of the grace period. */
	rotation.predecessor = old_id;
	rotation.rotated_at = txn_time;
	rotation.grace_ends_at = grace_end(grace, has_expiry, expiry);
	{
		bool at_once = rotation.grace_ends_at <= txn_time;
		AttrNumber column = at_once ? t->att_is_active : t->att_expires_at;
		Datum value = at_once ? BoolGetDatum(false) : TimestampTzGetDatum(rotation.grace_ends_at);
		bool value_null = false;

		row_access_update(&rows->ra, 1, &column, &value, &value_null);
	}
	issued = manage_issue(rows, &successor);
	rotation.successor = issued.id;
	lineage_record(nspoid, &rotation);

	events_begin(&events, nspoid);
	event_detail_init(&detail);
	event_detail_uuid(&detail, "successor_id", issued.id);
	event_detail_timestamptz(&detail, "grace_ends_at", rotation.grace_ends_at);
	events_add(&events, "rotated", old_id, successor.user_id, &detail);
	event_detail_init(&detail);
	event_detail_uuid(&detail, "rotated_from", old_id);
	if (successor.has_expiry)
		event_detail_timestamptz(&detail, "expires_at", successor.expires_at);
	events_add(&events, "created", issued.id, successor.user_id, &detail);
	events_end(&events);
	token_rows_close(rows);
	return result_new_token(fcinfo, issued.id, issued.token);
}

/*
 * Revokes the active tokens of token_id's lineage (whole: all of it;
 * otherwise the tokens descended from it), recording how.  Returns how many.
 * Like api_token_revoke_user, it first waits for tokens of the user being
 * issued (a rotation in progress adds to the lineage).
 */
int
rotate_revoke_lineage(Oid nspoid, Datum token_id, bool whole, const char *how)
{
	TokenRows *rows;
	EventWriter events;
	Datum user_id;
	List *ids;
	int count;

	rows = token_rows_open(nspoid, false);
	user_id = token_rows_find_by_id(rows, token_id)
				  ? row_access_copy_uuid(&rows->ra, rows->table->att_user_id)
				  : (Datum) 0;
	token_rows_close(rows);
	if (user_id == (Datum) 0)
		return 0;
	manage_lock_user(user_id, true);

	rows = token_rows_open(nspoid, true);
	if (IsolationUsesXactSnapshot())
		manage_fail_on_unseen_tokens(rows, user_id, token_rows_ids_of_user(rows, user_id));
	ids = lineage_members(nspoid, token_id, whole);
	if (whole)
		ids = lappend(ids, DatumGetPointer(token_id));
	events_begin(&events, nspoid);
	count = manage_revoke_ids(rows, &events, token_rows_sort_ids(ids), NULL, how);
	events_end(&events);
	token_rows_close(rows);
	return count;
}

/* SQL: api_token_revoke_family(token_id uuid) RETURNS integer */
PG_FUNCTION_INFO_V1(api_token_revoke_family);
Datum
api_token_revoke_family(PG_FUNCTION_ARGS)
{
	manage_require_not_null(fcinfo, 0, "token_id");
	PG_RETURN_INT32(rotate_revoke_lineage(token_table_namespace_of(fcinfo->flinfo->fn_oid),
										  PG_GETARG_DATUM(0), true, "family"));
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
