/*
 * sql_call.c
 *		What the SQL-callable functions share: arguments that must not be
 *		NULL, and the one row of a set-returning function.
 *
 * The SQL functions return SETOF so that they can be used in FROM, but
 * always return exactly one row: value-per-call mode with a single result
 * avoids building a tuplestore for it.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "funcapi.h"
#include "nodes/execnodes.h"
#include "utils/fmgrprotos.h"

#include "api/sql_call.h"

void
sql_require_set_context(FunctionCallInfo fcinfo, const char *fname)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;

	if (rsinfo == NULL || !IsA(rsinfo, ReturnSetInfo) ||
		(rsinfo->allowedModes & SFRM_ValuePerCall) == 0)
		ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						errmsg("%s must be called in a context that accepts a set", fname)));
}

Datum
sql_single_row(FunctionCallInfo fcinfo, TupleDesc desc, Datum *values, bool *nulls)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;

	rsinfo->returnMode = SFRM_ValuePerCall;
	rsinfo->isDone = ExprSingleResult;
	return HeapTupleGetDatum(heap_form_tuple(desc, values, nulls));
}

Datum
sql_new_token_row(FunctionCallInfo fcinfo, Datum token_id, text *token)
{
	TupleDesc desc;
	Datum values[2] = {token_id, PointerGetDatum(token)};
	bool nulls[2] = {false, false};

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE || desc->natts != 2)
		elog(ERROR, "return type must be a row of two columns");
	return sql_single_row(fcinfo, BlessTupleDesc(desc), values, nulls);
}

void
sql_require_not_null(FunctionCallInfo fcinfo, int argno, const char *name)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("%s must not be null", name)));
}

Interval *
sql_required_interval(FunctionCallInfo fcinfo, int argno, const char *name)
{
	Interval zero = {0};
	Interval *value;

	sql_require_not_null(fcinfo, argno, name);
	value = PG_GETARG_INTERVAL_P(argno);
	if (DatumGetBool(
			DirectFunctionCall2(interval_lt, IntervalPGetDatum(value), IntervalPGetDatum(&zero))))
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("%s must not be negative", name)));
	return value;
}

TimestampTz
sql_shifted(TimestampTz ts, Interval *by, bool forward)
{
	return DatumGetTimestampTz(
		DirectFunctionCall2(forward ? timestamptz_pl_interval : timestamptz_mi_interval,
							TimestampTzGetDatum(ts), IntervalPGetDatum(by)));
}
