/*
 * revoke.c
 *		The SQL functions that revoke tokens: api_token_revoke,
 *		api_token_revoke_user, api_token_revoke_leaked and
 *		api_token_revoke_family.
 *
 * All of them are SECURITY DEFINER and reach the tables only by OID (see
 * row_access.c); the revoking itself is tables/revocation.c's.
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"

#include "api/sql_call.h"
#include "api/token_functions.h"
#include "tables/catalog.h"
#include "tables/revocation.h"

/* SQL: api_token_revoke(token_id uuid) RETURNS boolean */
PG_FUNCTION_INFO_V1(api_token_revoke);
Datum
api_token_revoke(PG_FUNCTION_ARGS)
{
	Oid nspoid = token_table_namespace_of(fcinfo->flinfo->fn_oid);
	TokenRows *rows;
	EventWriter events;
	int count;

	sql_require_not_null(fcinfo, 0, "token_id");
	rows = token_rows_open(nspoid, true);
	events_begin(&events, nspoid);
	count = revocation_revoke_ids(rows, &events, list_make1(DatumGetPointer(PG_GETARG_DATUM(0))),
								  NULL, "token");
	events_end(&events);
	token_rows_close(rows);
	PG_RETURN_BOOL(count > 0);
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

	sql_require_not_null(fcinfo, 0, "user_id");
	user_id = PG_GETARG_DATUM(0);
	/* Waits for tokens of this user being issued right now... */
	revocation_lock_user(user_id, true);
	/* ... so that a snapshot taken now shows them (in READ COMMITTED). */
	rows = token_rows_open(nspoid, true);
	ids = token_rows_ids_of_user(rows, user_id);
	if (IsolationUsesXactSnapshot())
		revocation_fail_on_unseen_tokens(rows, user_id, ids);
	events_begin(&events, nspoid);
	count = revocation_revoke_ids(rows, &events, token_rows_sort_ids(ids), &user_id, "user");
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

	sql_require_not_null(fcinfo, 0, "tokens");
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
	count = revocation_revoke_ids(rows, &events, token_rows_sort_ids(ids), NULL, "leaked");
	events_end(&events);
	token_rows_close(rows);
	PG_RETURN_INT32(count);
}

/* SQL: api_token_revoke_family(token_id uuid) RETURNS integer */
PG_FUNCTION_INFO_V1(api_token_revoke_family);
Datum
api_token_revoke_family(PG_FUNCTION_ARGS)
{
	sql_require_not_null(fcinfo, 0, "token_id");
	PG_RETURN_INT32(revocation_revoke_lineage(token_table_namespace_of(fcinfo->flinfo->fn_oid),
											  PG_GETARG_DATUM(0), true, "family"));
}
