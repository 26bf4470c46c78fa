/*
 * manage.c
 *		Issuing and revoking tokens: api_token_create, api_token_revoke,
 *		api_token_revoke_user and api_token_revoke_leaked.
 *
 * All of them are SECURITY DEFINER and reach the tables only by OID (see
 * row_access.c).  Functions that change several rows lock them in id
 * order, so they cannot deadlock with each other.  Creation and rotation
 * hold a shared per-user lock that api_token_revoke_user takes exclusively,
 * so a token being issued while its user is revoked is revoked too.
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
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
#include "settings.h"
#include "token_functions.h"

/* First key of the per-user advisory locks ("apit"). */
#define USER_LOCK_CLASS 1634757748

void
manage_require_not_null(FunctionCallInfo fcinfo, int argno, const char *name)
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

void
manage_expiry(bool *has_expiry, TimestampTz *expires_at, bool cap_only)
{
	TimestampTz txn_time = GetCurrentTransactionStartTimestamp();
	TimestampTz limit;

	settings_require_policy();
	if (*has_expiry && *expires_at <= txn_time && !cap_only)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("expires_at must be in the future")));
	if (api_tokens_max_lifetime <= 0)
		return;
	limit = txn_time + (int64) api_tokens_max_lifetime * USECS_PER_SEC;
	if (*has_expiry && *expires_at <= limit)
		return;
	if (*has_expiry && !cap_only)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("expires_at is beyond the longest lifetime allowed"),
						errdetail("api_tokens.max_lifetime allows tokens to live until %s at most.",
								  timestamptz_to_str(limit))));
	*has_expiry = true;
	*expires_at = limit;
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

int
manage_revoke_ids(TokenRows *rows, EventWriter *events, List *ids, const Datum *user_id,
				  const char *how)
{
	const TokenTable *t = rows->table;
	ListCell *lc;
	int count = 0;

	foreach (lc, ids)
	{
		Datum id = PointerGetDatum(lfirst(lc));
		AttrNumber column = t->att_is_active;
		Datum inactive = BoolGetDatum(false);
		bool isnull = false;
		EventDetail detail;

		/* Inactive already (most of a long lineage): nothing to lock. */
		if (!token_rows_find_by_id(rows, id) ||
			!row_access_get_bool(&rows->ra, t->att_is_active, false) ||
			!row_access_lock_for_change(&rows->ra))
			continue;
		if (!row_access_uuid_equals(&rows->ra, t->att_id, id) ||
			!row_access_get_bool(&rows->ra, t->att_is_active, false))
			continue;
		if (user_id != NULL && !row_access_uuid_equals(&rows->ra, t->att_user_id, *user_id))
			continue;
		row_access_update(&rows->ra, 1, &column, &inactive, &isnull);
		event_detail_init(&detail);
		event_detail_text(&detail, "how", how);
		events_add(events, "revoked", id, row_access_copy_uuid(&rows->ra, t->att_user_id), &detail);
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
	EventWriter events;
	EventDetail detail;

	result_require_set_context(fcinfo, "api_token_create");
	manage_require_not_null(fcinfo, 0, "user_id");
	manage_require_not_null(fcinfo, 1, "name");
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
	manage_expiry(&row.has_expiry, &row.expires_at, false);

	issued = manage_issue(rows, &row);
	events_begin(&events, nspoid);
	event_detail_init(&detail);
	if (row.has_expiry)
		event_detail_timestamptz(&detail, "expires_at", row.expires_at);
	events_add(&events, "created", issued.id, row.user_id, &detail);
	events_end(&events);
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
	EventWriter events;
	int count;

	manage_require_not_null(fcinfo, 0, "token_id");
	rows = token_rows_open(nspoid, true);
	events_begin(&events, nspoid);
	count = manage_revoke_ids(rows, &events, list_make1(DatumGetPointer(PG_GETARG_DATUM(0))), NULL,
							  "token");
	events_end(&events);
	token_rows_close(rows);
	PG_RETURN_BOOL(count > 0);
}

void
manage_fail_on_unseen_tokens(TokenRows *rows, Datum user_id, List *seen)
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
	EventWriter events;
	List *ids;
	int count;

	manage_require_not_null(fcinfo, 0, "user_id");
	user_id = PG_GETARG_DATUM(0);
	/* Waits for tokens of this user being issued right now... */
	manage_lock_user(user_id, true);
	/* ... so that a snapshot taken now shows them (in READ COMMITTED). */
	rows = token_rows_open(nspoid, true);
	ids = token_rows_ids_of_user(rows, user_id);
	if (IsolationUsesXactSnapshot())
		manage_fail_on_unseen_tokens(rows, user_id, ids);
	events_begin(&events, nspoid);
	count = manage_revoke_ids(rows, &events, token_rows_sort_ids(ids), &user_id, "user");
	events_end(&events);
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
	EventWriter events;
	List *ids = NIL;
	int count;

	manage_require_not_null(fcinfo, 0, "tokens");
	tokens = PG_GETARG_ARRAYTYPE_P(0);
	deconstruct_array(tokens, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);

	rows = token_rows_open(nspoid, true);
	for (int i = 0; i < n; i++)
	{
		Datum id;

		CHECK_FOR_INTERRUPTS();
		/* Entries that are not well-formed tokens (NULL, junk) cannot be ours. */
		if (nulls[i] || !token_datum_is_wellformed(elems[i]))
			continue;
		if (token_rows_find_by_hash(rows, token_hash_text(DatumGetTextPP(elems[i]))) &&
			(id = row_access_copy_uuid(&rows->ra, rows->table->att_id)) != (Datum) 0)
			ids = lappend(ids, DatumGetPointer(id));
	}
	events_begin(&events, nspoid);
	count = manage_revoke_ids(rows, &events, token_rows_sort_ids(ids), NULL, "leaked");
	events_end(&events);
	token_rows_close(rows);
	PG_RETURN_INT32(count);
}
