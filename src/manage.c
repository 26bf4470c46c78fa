/*
 * manage.c
 *		Issuing, revoking and rotating tokens: api_token_create,
 *		api_token_revoke, api_token_revoke_user, api_token_revoke_leaked and
 *		api_token_rotate.
 *
 * All of them are SECURITY DEFINER and reach the table only by OID (see
 * token_rows.c).  Functions that change several rows lock them in id
 * order, so they cannot deadlock with each other.  Creation and rotation
 * hold a shared per-user lock that api_token_revoke_user takes exclusively,
 * so a token being issued while its user is revoked is revoked too.
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/fmgrprotos.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#include "compat.h"
#include "manage.h"
#include "result.h"
#include "scopes.h"
#include "token_functions.h"
#include "token_rows.h"

/* First key of the per-user advisory locks ("apit"). */
#define USER_LOCK_CLASS 1634757748

/* Raises the error for a NULL argument that must not be NULL. */
static void
require_not_null(FunctionCallInfo fcinfo, int argno, const char *name)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("%s must not be null", name)));
}

void
manage_lock_user(Datum user_id, bool exclusive)
{
	Datum key = Int32GetDatum(
		(int32) hash_bytes((const unsigned char *) DatumGetPointer(user_id), UUID_LEN));

	if (exclusive)
		DirectFunctionCall2(pg_advisory_xact_lock_int4, Int32GetDatum(USER_LOCK_CLASS), key);
	else
		DirectFunctionCall2(pg_advisory_xact_lock_shared_int4, Int32GetDatum(USER_LOCK_CLASS), key);
}

void
manage_check_name(const TokenTable *table, text *name)
{
	int chars = pg_mbstrlen_with_len(VARDATA_ANY(name), VARSIZE_ANY_EXHDR(name));

	if (chars == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("name must not be empty")));
	if (table->name_max_chars >= 0 && chars > table->name_max_chars)
		ereport(ERROR, (errcode(ERRCODE_STRING_DATA_RIGHT_TRUNCATION), errmsg("name is too long"),
						errdetail("A token name has at most %d characters, not %d.",
								  table->name_max_chars, chars)));
}

IssuedToken
manage_issue(TokenRows *rows, const NewTokenRow *template)
{
	IssuedToken issued;
	NewTokenRow row = *template;

	issued.token = token_new();
	row.token_hash = token_hash_text(issued.token);
	row.token_prefix = token_prefix_text(issued.token);
	issued.id = token_rows_insert(rows, &row);
	return issued;
}

/* Deactivates the locked row in rows->slot. */
static void
deactivate(TokenRows *rows)
{
	AttrNumber column = rows->table->att_is_active;
	Datum value = BoolGetDatum(false);
	bool isnull = false;

	row_access_update(&rows->ra, 1, &column, &value, &isnull);
}

/*
 * Deactivates each token of ids (sorted) that is still active and, if
 * user_id is not NULL, still belongs to that user.  Returns how many.
 */
static int
deactivate_ids(TokenRows *rows, List *ids, const Datum *user_id)
{
	ListCell *lc;
	int count = 0;

	foreach (lc, ids)
	{
		Datum id = PointerGetDatum(lfirst(lc));

		if (!token_rows_find_by_id(rows, id) || !row_access_lock_for_change(&rows->ra))
			continue;
		if (!row_access_uuid_equals(&rows->ra, rows->table->att_id, id) ||
			!row_access_get_bool(&rows->ra, rows->table->att_is_active, false))
			continue;
		if (user_id != NULL &&
			!row_access_uuid_equals(&rows->ra, rows->table->att_user_id, *user_id))
			continue;
		deactivate(rows);
		count++;
	}
	return count;
}

/*
 * SQL: api_token_create(user_id uuid, name text, scopes text[] DEFAULT NULL,
 *		expires_at timestamptz DEFAULT NULL) RETURNS TABLE (token_id uuid, token text)
 */
PG_FUNCTION_INFO_V1(api_token_create);
Datum
api_token_create(PG_FUNCTION_ARGS)
{
	Oid nspoid = token_table_namespace_of(fcinfo->flinfo->fn_oid);
	NewTokenRow row = {0};
	TokenRows *rows;
	IssuedToken issued;

	result_require_set_context(fcinfo, "api_token_create");
	require_not_null(fcinfo, 0, "user_id");
	require_not_null(fcinfo, 1, "name");
	row.user_id = PG_GETARG_DATUM(0);
	row.name = PG_GETARG_TEXT_PP(1);
	row.scopes = PG_ARGISNULL(2) ? NULL : PG_GETARG_ARRAYTYPE_P(2);
	row.has_expiry = !PG_ARGISNULL(3);
	row.expires_at = row.has_expiry ? PG_GETARG_TIMESTAMPTZ(3) : 0;

	manage_lock_user(row.user_id, false);
	rows = token_rows_open(nspoid, true);
	manage_check_name(rows->table, row.name);
	if (row.scopes)
		scopes_check_new(row.scopes, rows->table->scope_max_chars);
	if (row.has_expiry && row.expires_at <= GetCurrentTransactionStartTimestamp())
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("expires_at must be in the future")));

	issued = manage_issue(rows, &row);
	token_rows_close(rows);
	return result_new_token(fcinfo, issued.id, issued.token);
}

/* SQL: api_token_revoke(token_id uuid) RETURNS boolean */
PG_FUNCTION_INFO_V1(api_token_revoke);
Datum
api_token_revoke(PG_FUNCTION_ARGS)
{
	Oid nspoid = token_table_namespace_of(fcinfo->flinfo->fn_oid);
	TokenRows *rows;
	int count;

	require_not_null(fcinfo, 0, "token_id");
	rows = token_rows_open(nspoid, true);
	count = deactivate_ids(rows, list_make1(DatumGetPointer(PG_GETARG_DATUM(0))), NULL);
	token_rows_close(rows);
	PG_RETURN_BOOL(count > 0);
}

/*
 * Raises a serialization failure if a token of the user exists that the
 * transaction's snapshot does not show: created by a transaction that
 * committed after the snapshot was taken, it would escape revocation.
 */
static void
fail_on_unseen_tokens(TokenRows *rows, Datum user_id, List *seen)
{
	Snapshot own = rows->ra.snapshot;
	List *latest;
	ListCell *lc;

	rows->ra.snapshot = RegisterSnapshot(GetLatestSnapshot());
	latest = token_rows_ids_of_user(rows, user_id);
	UnregisterSnapshot(rows->ra.snapshot);
	rows->ra.snapshot = own;

	foreach (lc, latest)
	{
		bool found = false;
		ListCell *lc2;

		foreach (lc2, seen)
			found = found || memcmp(lfirst(lc), lfirst(lc2), UUID_LEN) == 0;
		if (!found)
			ereport(
				ERROR,
				(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
				 errmsg("could not serialize access due to a token created concurrently"),
				 errdetail("A token of this user was created after this transaction's snapshot."),
				 errhint("Retry the transaction.")));
	}
}

/* SQL: api_token_revoke_user(user_id uuid) RETURNS integer */
PG_FUNCTION_INFO_V1(api_token_revoke_user);
Datum
api_token_revoke_user(PG_FUNCTION_ARGS)
{
	Oid nspoid = token_table_namespace_of(fcinfo->flinfo->fn_oid);
	Datum user_id;
	TokenRows *rows;
	List *ids;
	int count;

	require_not_null(fcinfo, 0, "user_id");
	user_id = PG_GETARG_DATUM(0);
	/* Waits for tokens of this user being issued right now... */
	manage_lock_user(user_id, true);
	/* ... so that a snapshot taken now shows them (in READ COMMITTED). */
	rows = token_rows_open(nspoid, true);
	ids = token_rows_ids_of_user(rows, user_id);
	if (IsolationUsesXactSnapshot())
		fail_on_unseen_tokens(rows, user_id, ids);
	count = deactivate_ids(rows, token_rows_sort_ids(ids), &user_id);
	token_rows_close(rows);
	PG_RETURN_INT32(count);
}

/* SQL: api_token_revoke_leaked(tokens text[]) RETURNS integer */
PG_FUNCTION_INFO_V1(api_token_revoke_leaked);
Datum
api_token_revoke_leaked(PG_FUNCTION_ARGS)
{
	Oid nspoid = token_table_namespace_of(fcinfo->flinfo->fn_oid);
	ArrayType *tokens;
	Datum *elems;
	bool *nulls;
	int n;
	TokenRows *rows;
	List *ids = NIL;
	int count;

	require_not_null(fcinfo, 0, "tokens");
	tokens = PG_GETARG_ARRAYTYPE_P(0);
	deconstruct_array(tokens, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);

	rows = token_rows_open(nspoid, true);
	for (int i = 0; i < n; i++)
	{
		bool isnull;

		CHECK_FOR_INTERRUPTS();
		/* Entries that are not well-formed tokens (NULL, junk) cannot be ours. */
		if (nulls[i] || !token_datum_is_wellformed(elems[i]))
			continue;
		if (token_rows_find_by_hash(rows, token_hash_text(DatumGetTextPP(elems[i]))))
		{
			Datum id = row_access_get(&rows->ra, rows->table->att_id, &isnull);

			if (!isnull)
				ids = lappend(ids, DatumGetPointer(datumCopy(id, false, UUID_LEN)));
		}
	}
	count = deactivate_ids(rows, token_rows_sort_ids(ids), NULL);
	token_rows_close(rows);
	PG_RETURN_INT32(count);
}

/*
 * SQL: api_token_rotate(token_id uuid, grace interval DEFAULT '0')
 *		RETURNS TABLE (token_id uuid, token text)
 */
PG_FUNCTION_INFO_V1(api_token_rotate);
Datum
api_token_rotate(PG_FUNCTION_ARGS)
{
	Oid nspoid = token_table_namespace_of(fcinfo->flinfo->fn_oid);
	Datum old_id;
	Interval *grace;
	Datum zero = DirectFunctionCall3(interval_in, CStringGetDatum("0"),
									 ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1));
	TimestampTz txn_time = GetCurrentTransactionStartTimestamp();
	TokenRows *rows;
	const TokenTable *t;
	bool seen_active;
	TimestampTz seen_expiry;
	bool seen_has_expiry;
	TimestampTz expiry;
	NewTokenRow successor = {0};
	IssuedToken issued;
	bool isnull;

	result_require_set_context(fcinfo, "api_token_rotate");
	require_not_null(fcinfo, 0, "token_id");
	require_not_null(fcinfo, 1, "grace");
	old_id = PG_GETARG_DATUM(0);
	grace = PG_GETARG_INTERVAL_P(1);
	if (DatumGetBool(DirectFunctionCall2(interval_lt, IntervalPGetDatum(grace), zero)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("grace must not be negative")));

	rows = token_rows_open(nspoid, true);
	t = rows->table;
	if (!token_rows_find_by_id(rows, old_id))
		ereport(ERROR, (errcode(ERRCODE_NO_DATA_FOUND),
						errmsg("token %s does not exist",
							   DatumGetCString(DirectFunctionCall1(uuid_out, old_id)))));
	/* The state this call set out to rotate ... */
	seen_active = row_access_get_bool(&rows->ra, t->att_is_active, false);
	seen_has_expiry = row_access_get_timestamptz(&rows->ra, t->att_expires_at, &seen_expiry);
	successor.user_id =
		datumCopy(row_access_get(&rows->ra, t->att_user_id, &isnull), false, UUID_LEN);
	if (isnull)
		ereport(ERROR, (errcode(ERRCODE_NOT_NULL_VIOLATION),
						errmsg("the api_tokens row of this token has a NULL user_id")));

	manage_lock_user(successor.user_id, false);
	if (!row_access_lock_for_change(&rows->ra) ||
		!row_access_uuid_equals(&rows->ra, t->att_id, old_id))
		ereport(ERROR, (errcode(ERRCODE_NO_DATA_FOUND),
						errmsg("token %s does not exist",
							   DatumGetCString(DirectFunctionCall1(uuid_out, old_id)))));
	successor.has_expiry = row_access_get_timestamptz(&rows->ra, t->att_expires_at, &expiry);
	successor.expires_at = expiry;
	if (!row_access_get_bool(&rows->ra, t->att_is_active, false) ||
		(successor.has_expiry && expiry <= txn_time))
		ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
						errmsg("token %s is not active",
							   DatumGetCString(DirectFunctionCall1(uuid_out, old_id))),
						errdetail("Only an active, unexpired token can be rotated.")));
	/*
	 * ... must still be the state once locked: of concurrent rotations and
	 * revocations of one token, exactly one wins.  A recorded use (a new
	 * last_used_at) changes nothing that matters here.
	 */
	if (!seen_active || seen_has_expiry != successor.has_expiry ||
		(seen_has_expiry && seen_expiry != expiry))
		ereport(ERROR, (errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
						errmsg("token %s was changed by a concurrent transaction",
							   DatumGetCString(DirectFunctionCall1(uuid_out, old_id))),
						errhint("Retry the rotation.")));

	{
		Datum name = row_access_get(&rows->ra, t->att_name, &isnull);
		Datum scopes;

		successor.name = isnull ? cstring_to_text("") : DatumGetTextPCopy(name);
		scopes = row_access_get(&rows->ra, t->att_scopes, &isnull);
		successor.scopes = isnull ? NULL : DatumGetArrayTypePCopy(scopes);
	}

	if (DatumGetBool(DirectFunctionCall2(interval_eq, IntervalPGetDatum(grace), zero)))
		deactivate(rows);
	else
	{
		TimestampTz grace_end = DatumGetTimestampTz(DirectFunctionCall2(
			timestamptz_pl_interval, TimestampTzGetDatum(txn_time), IntervalPGetDatum(grace)));
		AttrNumber column = t->att_expires_at;
		Datum value =
			TimestampTzGetDatum(successor.has_expiry && expiry < grace_end ? expiry : grace_end);
		bool value_null = false;

		row_access_update(&rows->ra, 1, &column, &value, &value_null);
	}
	issued = manage_issue(rows, &successor);
	token_rows_close(rows);
	return result_new_token(fcinfo, issued.id, issued.token);
}
