/*
 * validate.c
 *		api_token_validate: the per-request hot path.
 *
 * A presented token is checked for format and checksum without touching
 * the table, hashed, and looked up with one direct probe of the unique
 * token_hash index.  Only then are activity, expiry and scopes checked,
 * and last_used_at recorded when it is due (see last_used.c).
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/relscan.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/pg_type.h"
#include "executor/tuptable.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/fmgroids.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "last_used.h"
#include "settings.h"
#include "token_functions.h"
#include "token_hash.h"
#include "token_table.h"

/* What the index probe found. */
typedef struct FoundToken
{
	bool found;
	const char *table; /* qualified name of the table probed */
	ItemPointerData tid;
	Datum id;
	Datum user_id;
	ArrayType *scopes; /* NULL if the column is NULL */
	bool is_active;
	bool has_expiry;
	TimestampTz expires_at;
	bool has_last_used;
	TimestampTz last_used_at;
} FoundToken;

/* The result row type, built once per backend. */
static TupleDesc
result_descriptor(void)
{
	static TupleDesc desc = NULL;

	if (desc == NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);
		TupleDesc d = CreateTemplateTupleDesc(4);

		TupleDescInitEntry(d, 1, "status", TEXTOID, -1, 0);
		TupleDescInitEntry(d, 2, "token_id", UUIDOID, -1, 0);
		TupleDescInitEntry(d, 3, "user_id", UUIDOID, -1, 0);
		TupleDescInitEntry(d, 4, "scopes", TEXTARRAYOID, -1, 0);
		desc = BlessTupleDesc(d);
		MemoryContextSwitchTo(old);
	}
	return desc;
}

/* The required scopes as text datums; a NULL element is an error. */
static Datum *
required_scopes(FunctionCallInfo fcinfo, int *count)
{
	ArrayType *array;
	Datum *elems;
	bool *nulls;

	*count = 0;
	if (PG_ARGISNULL(1))
		return NULL;
	array = PG_GETARG_ARRAYTYPE_P(1);
	if (ARR_NDIM(array) > 1)
		ereport(ERROR, (errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
						errmsg("required_scopes must be a one-dimensional array")));
	deconstruct_array(array, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, count);
	for (int i = 0; i < *count; i++)
		if (nulls[i])
			ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
							errmsg("required_scopes must not contain NULL")));
	return elems;
}

/* Probes the unique index for token_hash = hash and copies the row out. */
static void
probe(FunctionCallInfo fcinfo, text *hash, FoundToken *out)
{
	const TokenTable *tt;
	Relation heap = token_table_open(fcinfo->flinfo->fn_oid, AccessShareLock, &tt);
	Relation index = index_open(tt->hash_index, AccessShareLock);
	Snapshot snapshot = ActiveSnapshotSet() ? GetActiveSnapshot() : GetTransactionSnapshot();
	TupleTableSlot *slot = table_slot_create(heap, NULL);
	IndexScanDesc scan;
	ScanKeyData key;

	ScanKeyEntryInitialize(&key, 0, 1, BTEqualStrategyNumber, InvalidOid, tt->hash_collation,
						   F_TEXTEQ, PointerGetDatum(hash));
	scan = index_beginscan(heap, index, snapshot, 1, 0);
	index_rescan(scan, &key, 1, NULL, 0);

	out->found = index_getnext_slot(scan, ForwardScanDirection, slot);
	if (out->found)
	{
		bool isnull;
		Datum d;

		out->table = tt->qualified_name;
		out->tid = slot->tts_tid;
		out->id = datumCopy(slot_getattr(slot, tt->att_id, &isnull), false, 16);
		out->user_id = datumCopy(slot_getattr(slot, tt->att_user_id, &isnull), false, 16);
		d = slot_getattr(slot, tt->att_is_active, &isnull);
		out->is_active = !isnull && DatumGetBool(d);
		d = slot_getattr(slot, tt->att_expires_at, &isnull);
		out->has_expiry = !isnull;
		out->expires_at = isnull ? 0 : DatumGetTimestampTz(d);
		d = slot_getattr(slot, tt->att_last_used_at, &isnull);
		out->has_last_used = !isnull;
		out->last_used_at = isnull ? 0 : DatumGetTimestampTz(d);
		d = slot_getattr(slot, tt->att_scopes, &isnull);
		/* A copy, relabelled: varchar[] and text[] share one layout. */
		out->scopes = isnull ? NULL : DatumGetArrayTypePCopy(d);
		if (out->scopes)
			ARR_ELEMTYPE(out->scopes) = TEXTOID;
	}

	index_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	index_close(index, NoLock);
	table_close(heap, NoLock);
}

/* True if every required scope is among the token's scopes. */
static bool
has_scopes(ArrayType *scopes, Datum *required, int nrequired)
{
	Datum *have = NULL;
	bool *have_nulls = NULL;
	int nhave = 0;

	if (nrequired == 0)
		return true;
	if (scopes == NULL)
		return false;
	deconstruct_array(scopes, TEXTOID, -1, false, TYPALIGN_INT, &have, &have_nulls, &nhave);
	for (int r = 0; r < nrequired; r++)
	{
		text *want = DatumGetTextPP(required[r]);
		bool matched = false;

		for (int h = 0; h < nhave && !matched; h++)
		{
			text *got;

			if (have_nulls[h])
				continue;
			got = DatumGetTextPP(have[h]);
			matched = VARSIZE_ANY_EXHDR(got) == VARSIZE_ANY_EXHDR(want) &&
					  memcmp(VARDATA_ANY(got), VARDATA_ANY(want), VARSIZE_ANY_EXHDR(want)) == 0;
		}
		if (!matched)
			return false;
	}
	return true;
}

/* True if a successful use now should be written to last_used_at. */
static bool
last_use_is_due(const FoundToken *tok, TimestampTz now)
{
	int64 interval = (int64) api_tokens_last_used_interval * USECS_PER_SEC;

	return !tok->has_last_used || tok->last_used_at <= now - interval;
}

static Datum
result_row(FunctionCallInfo fcinfo, const char *status, const FoundToken *tok)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Datum values[4];
	bool nulls[4] = {false, false, false, false};
	TupleDesc desc = result_descriptor();

	/* One row, returned in value-per-call mode as a single result. */
	if (rsinfo != NULL && IsA(rsinfo, ReturnSetInfo))
	{
		rsinfo->returnMode = SFRM_ValuePerCall;
		rsinfo->isDone = ExprSingleResult;
	}

	values[0] = CStringGetTextDatum(status);
	if (tok != NULL && tok->found)
	{
		values[1] = tok->id;
		values[2] = tok->user_id;
		values[3] = PointerGetDatum(tok->scopes);
		nulls[3] = tok->scopes == NULL;
	}
	else
		nulls[1] = nulls[2] = nulls[3] = true;

	return HeapTupleGetDatum(heap_form_tuple(desc, values, nulls));
}

/*
 * SQL: api_token_validate(token text, required_scopes text[] DEFAULT NULL)
 *		RETURNS TABLE (status text, token_id uuid, user_id uuid, scopes text[])
 */
PG_FUNCTION_INFO_V1(api_token_validate);
Datum
api_token_validate(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int nrequired;
	Datum *required;
	text *token;
	/* The hash as a text datum on the stack; the int32 aligns its header. */
	union
	{
		int32 align; /* cppcheck-suppress unusedStructMember */
		char bytes[VARHDRSZ + TOKEN_HASH_HEX_LEN];
	} hash;
	FoundToken tok;
	TimestampTz txn_time;

	if (rsinfo == NULL || !IsA(rsinfo, ReturnSetInfo) ||
		(rsinfo->allowedModes & SFRM_ValuePerCall) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("api_token_validate must be called in a context that accepts a set")));

	required = required_scopes(fcinfo, &nrequired);

	if (PG_ARGISNULL(0) || !token_datum_is_wellformed(PG_GETARG_DATUM(0)))
		return result_row(fcinfo, "malformed", NULL);

	token = PG_GETARG_TEXT_PP(0);
	token_sha256_hex(VARDATA_ANY(token), VARSIZE_ANY_EXHDR(token), hash.bytes + VARHDRSZ);
	SET_VARSIZE(hash.bytes, sizeof(hash.bytes));

	probe(fcinfo, (text *) hash.bytes, &tok);
	if (!tok.found)
		return result_row(fcinfo, "unknown", NULL);
	if (!tok.is_active)
		return result_row(fcinfo, "inactive", &tok);

	txn_time = GetCurrentTransactionStartTimestamp();
	if (tok.has_expiry && tok.expires_at <= txn_time)
		return result_row(fcinfo, "expired", &tok);
	if (!has_scopes(tok.scopes, required, nrequired))
		return result_row(fcinfo, "insufficient_scope", &tok);

	if (last_use_is_due(&tok, txn_time))
		last_used_record(tok.table, &tok.tid, tok.id, txn_time);
	return result_row(fcinfo, "valid", &tok);
}
