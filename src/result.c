/*
 * result.c
 *		One-row results of set-returning functions.
 *
 * The SQL functions return SETOF so that they can be used in FROM, but
 * always return exactly one row: value-per-call mode with a single result
 * avoids building a tuplestore for it.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "funcapi.h"
#include "nodes/execnodes.h"

#include "result.h"

void
result_require_set_context(FunctionCallInfo fcinfo, const char *fname)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;

	if (rsinfo == NULL || !IsA(rsinfo, ReturnSetInfo) ||
		(rsinfo->allowedModes & SFRM_ValuePerCall) == 0)
		ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						errmsg("%s must be called in a context that accepts a set", fname)));
}

Datum
result_single_row(FunctionCallInfo fcinfo, TupleDesc desc, Datum *values, bool *nulls)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;

	rsinfo->returnMode = SFRM_ValuePerCall;
	rsinfo->isDone = ExprSingleResult;
	return HeapTupleGetDatum(heap_form_tuple(desc, values, nulls));
}

Datum
result_new_token(FunctionCallInfo fcinfo, Datum token_id, text *token)
{
	TupleDesc desc;
	Datum values[2] = {token_id, PointerGetDatum(token)};
	bool nulls[2] = {false, false};

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE || desc->natts != 2)
		elog(ERROR, "return type must be a row of two columns");
	return result_single_row(fcinfo, BlessTupleDesc(desc), values, nulls);
}
