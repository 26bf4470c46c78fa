/*
 * issue.c
 *		Issuing tokens: api_token_create, and what api_token_rotate shares
 *		with it (name and expiry checks, generating and inserting a token).
 *
 * api_token_create is SECURITY DEFINER and reaches the table only by OID
 * (see row_access.c).  Creation and rotation hold a shared per-user lock
 * that revoking every token of a user takes exclusively
 * (tables/revocation.c), so a token being issued while its user is revoked
 * is revoked too.
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

#include "api/issue.h"
#include "api/scopes.h"
#include "api/sql_call.h"
#include "api/token_functions.h"
#include "compat.h"
#include "settings.h"
#include "tables/revocation.h"

void
issue_check_name(const TokenTable *table, text *name)
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
issue_expiry(bool *has_expiry, TimestampTz *expires_at, bool cap_only)
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
issue_token(TokenRows *rows, const NewTokenRow *template)
{
	IssuedToken issued;
	NewTokenRow row = *template;

	issued.token = token_new();
	row.token_hash = token_hash_text(issued.token);
	row.token_prefix = token_prefix_text(issued.token);
	issued.id = token_rows_insert(rows, &row);
	return issued;
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

	sql_require_set_context(fcinfo, "api_token_create");
	sql_require_not_null(fcinfo, 0, "user_id");
	sql_require_not_null(fcinfo, 1, "name");
	row.user_id = PG_GETARG_DATUM(0);
	row.name = PG_GETARG_TEXT_PP(1);
	row.scopes = PG_ARGISNULL(2) ? NULL : PG_GETARG_ARRAYTYPE_P(2);
	row.has_expiry = !PG_ARGISNULL(3);
	row.expires_at = row.has_expiry ? PG_GETARG_TIMESTAMPTZ(3) : 0;

	revocation_lock_user(row.user_id, false);
	rows = token_rows_open(nspoid, true);
	issue_check_name(rows->table, row.name);
	if (row.scopes)
		scopes_check_new(row.scopes, rows->table->scope_max_chars);
	issue_expiry(&row.has_expiry, &row.expires_at, false);

	issued = issue_token(rows, &row);
	events_begin(&events, nspoid);
	event_detail_init(&detail);
	if (row.has_expiry)
		event_detail_timestamptz(&detail, "expires_at", row.expires_at);
	events_add(&events, "created", issued.id, row.user_id, &detail);
	events_end(&events);
	token_rows_close(rows);
	return sql_new_token_row(fcinfo, issued.id, issued.token);
}
