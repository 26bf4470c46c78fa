/*
 * validate.c
 *		api_token_validate, api_token_authenticate and api_token_verify: the
 *		per-request hot path.
 *
 * A presented token is checked for format and checksum without touching
 * the table, hashed, and looked up with one probe of the unique token_hash
 * index.  Only then are activity, expiry, inactivity and scopes checked,
 * then the token's limits (limit_check.c, since 1.2), and a use recorded
 * when one is due (see last_used.c).  A token that stopped working
 * because it was rotated out is reported as such, and its reuse noted (see
 * reuse.c).  Every value read from the row is treated as untrusted: a NULL
 * never becomes a valid answer.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"
#include "utils/typcache.h"
#include "utils/uuid.h"

#include "api/request_context.h"
#include "api/scopes.h"
#include "api/sql_call.h"
#include "api/token_functions.h"
#include "api/limit_check.h"
#include "api/token_hash.h"
#include "api/validate.h"
#include "compat.h"
#include "engine/last_used.h"
#include "engine/reuse.h"
#include "tables/lineage.h"
#include "settings.h"
#include "tables/token_rows.h"

static const char *const status_names[] = {
	[TOKEN_VALID] = "valid",
	[TOKEN_MALFORMED] = "malformed",
	[TOKEN_UNKNOWN] = "unknown",
	[TOKEN_INACTIVE] = "inactive",
	[TOKEN_EXPIRED] = "expired",
	[TOKEN_ROTATED] = "rotated",
	[TOKEN_INSUFFICIENT_SCOPE] = "insufficient_scope",
	[TOKEN_ADDRESS_DENIED] = "address_denied",
	[TOKEN_RATE_LIMITED] = "rate_limited",
	[TOKEN_USAGE_EXCEEDED] = "usage_exceeded",
};

const char *
token_status_name(TokenStatus status)
{
	Assert(status >= 0 && status < lengthof(status_names));
	return status_names[status];
}

/* What the index probe found, copied out of the row. */
typedef struct FoundToken
{
	bool found;
	Datum id;
	Datum user_id;
	ArrayType *scopes; /* NULL if the column is NULL */
	bool is_active;
	bool has_expiry;
	TimestampTz expires_at;
	bool has_last_used;
	TimestampTz last_used_at;
	bool has_created;
	TimestampTz created_at;
} FoundToken;

/* A uuid column that must not be NULL: the table's owner could allow it. */
static Datum
required_uuid(TokenRows *rows, AttrNumber att, const char *column)
{
	bool isnull;
	Datum value = row_access_get(&rows->ra, att, &isnull);

	if (isnull)
		ereport(ERROR, (errcode(ERRCODE_NOT_NULL_VIOLATION),
						errmsg("the api_tokens row of this token has a NULL %s", column),
						errhint("Delete the row or give it a %s; the column should be NOT NULL.",
								column)));
	return datumCopy(value, false, UUID_LEN);
}

/* Probes the unique index for token_hash = hash and copies the row out. */
static void
probe(TokenRows *rows, text *hash, FoundToken *out)
{
	const TokenTable *t = rows->table;

	out->found = token_rows_find_by_hash(rows, hash);
	if (out->found)
	{
		bool isnull;
		Datum scopes;

		out->id = required_uuid(rows, t->att_id, "id");
		out->user_id = required_uuid(rows, t->att_user_id, "user_id");
		out->is_active = row_access_get_bool(&rows->ra, t->att_is_active, false);
		out->has_expiry =
			row_access_get_timestamptz(&rows->ra, t->att_expires_at, &out->expires_at);
		out->has_last_used =
			row_access_get_timestamptz(&rows->ra, t->att_last_used_at, &out->last_used_at);
		out->has_created =
			row_access_get_timestamptz(&rows->ra, t->att_created_at, &out->created_at);
		scopes = row_access_get(&rows->ra, t->att_scopes, &isnull);
		/* A copy, relabelled: varchar[] and text[] share one layout. */
		out->scopes = isnull ? NULL : DatumGetArrayTypePCopy(scopes);
		if (out->scopes)
			ARR_ELEMTYPE(out->scopes) = TEXTOID;
	}
}

/*
 * The result row, of the function's declared type (api_token_validation),
 * so that it can be stored, dumped and read by any session.
 */
static Datum
result_row(FunctionCallInfo fcinfo, const Validation *v, int ncolumns)
{
	static const Oid types[6] = {TEXTOID, UUIDOID, UUIDOID, TEXTARRAYOID, INT4OID, INT8OID};
	Oid type = get_fn_expr_rettype(fcinfo->flinfo);
	Datum values[6];
	bool nulls[6] = {false, false, false, false, true, true};
	TupleDesc desc;
	Datum row;
	bool matches;

	if (!OidIsValid(type))
		type = get_func_rettype(fcinfo->flinfo->fn_oid);
	desc = lookup_rowtype_tupdesc(type, -1);
	matches = desc->natts == ncolumns;
	for (int i = 0; matches && i < ncolumns; i++)
		matches = TupleDescAttr(desc, i)->atttypid == types[i];
	if (!matches)
		ereport(
			ERROR,
			(errcode(ERRCODE_DATATYPE_MISMATCH),
			 errmsg("type %s is not (status text, token_id uuid, user_id uuid, scopes text[]%s)",
					format_type_be(type),
					ncolumns == 6 ? ", retry_after integer, credits_remaining bigint" : "")));

	values[0] = CStringGetTextDatum(token_status_name(v->status));
	if (v->found)
	{
		values[1] = v->id;
		values[2] = v->user_id;
		values[3] = PointerGetDatum(v->scopes);
		nulls[3] = v->scopes == NULL;
	}
	else
		nulls[1] = nulls[2] = nulls[3] = true;
	if (ncolumns == 6)
	{
		values[4] = Int32GetDatum(v->retry_after);
		nulls[4] = v->retry_after < 0;
		values[5] = Int64GetDatum(v->credits_remaining);
		nulls[5] = v->credits_remaining < 0;
	}

	row = sql_single_row(fcinfo, desc, values, nulls);
	ReleaseTupleDesc(desc);
	return row;
}

void
validation_request_init(ValidationRequest *request)
{
	memset(request, 0, sizeof(*request));
	request->cost = 1;
}

/* True if the token has gone unused for api_tokens.max_idle. */
static bool
is_idle(const FoundToken *tok, TimestampTz now)
{
	TimestampTz since;

	if (api_tokens_max_idle <= 0)
		return false;
	if (tok->has_last_used)
		since = tok->last_used_at;
	else if (tok->has_created)
		since = tok->created_at;
	else
		return true; /* neither: nothing says it was ever used */
	return since <= now - (int64) api_tokens_max_idle * USECS_PER_SEC;
}

void
validate_token(Oid nspoid, Datum token_datum, bool token_isnull, const ValidationRequest *request,
			   Validation *out)
{
	text *token;
	/* The hash as a text datum on the stack; the int32 aligns its header. */
	union
	{
		int32 align; /* cppcheck-suppress unusedStructMember */
		char bytes[VARHDRSZ + TOKEN_HASH_HEX_LEN];
	} hash;
	FoundToken tok;
	TokenRows *rows;
	TimestampTz txn_time;
	Rotation rotation;

	out->found = false;
	out->retry_after = -1;
	out->credits_remaining = -1;
	settings_require_idle_policy();
	if (token_isnull || !token_datum_is_wellformed(token_datum))
	{
		out->status = TOKEN_MALFORMED;
		return;
	}

	token = DatumGetTextPP(token_datum);
	token_sha256_hex(VARDATA_ANY(token), VARSIZE_ANY_EXHDR(token), hash.bytes + VARHDRSZ);
	SET_VARSIZE(hash.bytes, sizeof(hash.bytes));

	rows = token_rows_open(nspoid, false);
	probe(rows, (text *) hash.bytes, &tok);
	if (!tok.found)
	{
		token_rows_close(rows);
		out->status = TOKEN_UNKNOWN;
		return;
	}
	out->found = true;
	out->id = tok.id;
	out->user_id = tok.user_id;
	out->scopes = tok.scopes;

	txn_time = GetCurrentTransactionStartTimestamp();
	if (!tok.is_active)
		out->status = TOKEN_INACTIVE;
	else if (tok.has_expiry && tok.expires_at <= txn_time)
		out->status = TOKEN_EXPIRED;
	else if (is_idle(&tok, txn_time))
		out->status = TOKEN_INACTIVE;
	else if (!scopes_has_all(tok.scopes, &request->required))
		out->status = TOKEN_INSUFFICIENT_SCOPE;
	else
	{
		/* Still open: the limits are read with the snapshot the token's row was read with. */
		out->status = limit_check(nspoid, tok.id, rows->ra.snapshot, request, out);
		token_rows_close(rows);
		if (out->status == TOKEN_VALID &&
			last_used_is_due(tok.has_last_used, tok.last_used_at, txn_time))
			last_used_record(nspoid, tok.id, txn_time);
		return;
	}
	token_rows_close(rows);

	/*
	 * A token that stopped working because it was rotated out: only such
	 * tokens need the lineage, so the valid path never looks at it.
	 */
	if ((out->status == TOKEN_INACTIVE || out->status == TOKEN_EXPIRED) &&
		lineage_rotated_out(nspoid, tok.id, &rotation))
	{
		out->status = TOKEN_ROTATED;
		reuse_note(nspoid, tok.id);
	}
}

/* The SQL functions' shared body: validate, and authenticate if asked. */
static Datum
validate(FunctionCallInfo fcinfo, const char *fname, bool authenticate)
{
	ValidationRequest request;
	Validation v;

	sql_require_set_context(fcinfo, fname);
	validation_request_init(&request);
	if (!PG_ARGISNULL(1))
		request.required = scopes_required(PG_GETARG_ARRAYTYPE_P(1));
	validate_token(token_table_namespace_of(fcinfo->flinfo->fn_oid), PG_GETARG_DATUM(0),
				   PG_ARGISNULL(0), &request, &v);
	if (authenticate && v.status == TOKEN_VALID)
		request_context_set(v.id, v.user_id, v.scopes);
	else if (authenticate)
		request_context_clear();
	return result_row(fcinfo, &v, 4);
}

/*
 * SQL: api_token_validate(token text, required_scopes text[] DEFAULT NULL)
 *		RETURNS SETOF api_token_validation
 */
PG_FUNCTION_INFO_V1(api_token_validate);
Datum
api_token_validate(PG_FUNCTION_ARGS)
{
	return validate(fcinfo, "api_token_validate", false);
}

/*
 * SQL: api_token_authenticate(token text, required_scopes text[] DEFAULT NULL)
 *		RETURNS SETOF api_token_validation
 * As api_token_validate; a valid token becomes the transaction's
 * authenticated token (see request_context.c), any other status clears it.
 */
PG_FUNCTION_INFO_V1(api_token_authenticate);
Datum
api_token_authenticate(PG_FUNCTION_ARGS)
{
	return validate(fcinfo, "api_token_authenticate", true);
}

/*
 * SQL: api_token_verify(token text, required_scopes text[] DEFAULT NULL,
 *		client_address inet DEFAULT NULL, cost integer DEFAULT 1)
 *		RETURNS SETOF api_token_verification
 * As api_token_validate, with the client's address for an allowlist and the
 * credits a valid token spends (since 1.2).
 */
PG_FUNCTION_INFO_V1(api_token_verify);
Datum
api_token_verify(PG_FUNCTION_ARGS)
{
	ValidationRequest request;
	Validation v;

	sql_require_set_context(fcinfo, "api_token_verify");
	validation_request_init(&request);
	if (!PG_ARGISNULL(1))
		request.required = scopes_required(PG_GETARG_ARRAYTYPE_P(1));
	request.has_address = !PG_ARGISNULL(2);
	request.address = request.has_address ? PG_GETARG_DATUM(2) : (Datum) 0;
	sql_require_not_null(fcinfo, 3, "cost");
	request.cost = PG_GETARG_INT32(3);
	if (request.cost < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("cost must not be negative")));
	validate_token(token_table_namespace_of(fcinfo->flinfo->fn_oid), PG_GETARG_DATUM(0),
				   PG_ARGISNULL(0), &request, &v);
	return result_row(fcinfo, &v, 6);
}
