/*
 * sql_call.h
 *		What the SQL-callable functions share: argument checks and results.
 */
#ifndef API_TOKENS_SQL_CALL_H
#define API_TOKENS_SQL_CALL_H

#include "postgres.h"

#include "fmgr.h"
#include "utils/timestamp.h"

/* Raises an error unless the caller accepts a set (fname names the function). */
extern void sql_require_set_context(FunctionCallInfo fcinfo, const char *fname);

/*
 * The row described by desc, returned as the only row of the set, in
 * value-per-call mode.
 */
extern Datum sql_single_row(FunctionCallInfo fcinfo, TupleDesc desc, Datum *values, bool *nulls);

/* The (token_id uuid, token text) row of api_token_create and api_token_rotate. */
extern Datum sql_new_token_row(FunctionCallInfo fcinfo, Datum token_id, text *token);

/* Raises the error for a NULL argument that must not be NULL (22004). */
extern void sql_require_not_null(FunctionCallInfo fcinfo, int argno, const char *name);

/* An interval argument that must be given and not negative. */
extern Interval *sql_required_interval(FunctionCallInfo fcinfo, int argno, const char *name);

/* ts plus (forward) or minus an interval. */
extern TimestampTz sql_shifted(TimestampTz ts, Interval *by, bool forward);

#endif /* API_TOKENS_SQL_CALL_H */
