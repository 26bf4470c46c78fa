/*
 * result.h
 *		Returning the one row of the extension's set-returning functions.
 */
#ifndef API_TOKENS_RESULT_H
#define API_TOKENS_RESULT_H

#include "postgres.h"

#include "fmgr.h"

/* Raises an error unless the caller accepts a set (fname names the function). */
extern void result_require_set_context(FunctionCallInfo fcinfo, const char *fname);

/*
 * The row described by desc, returned as the only row of the set, in
 * value-per-call mode.
 */
extern Datum result_single_row(FunctionCallInfo fcinfo, TupleDesc desc, Datum *values, bool *nulls);

/* The (token_id uuid, token text) row of api_token_create and api_token_rotate. */
extern Datum result_new_token(FunctionCallInfo fcinfo, Datum token_id, text *token);

#endif /* API_TOKENS_RESULT_H */
