/*
 * scopes.h
 *		Checking scope lists given by callers and matching them against a
 *		token's scopes, in bounded, interruptible time.
 */
#ifndef API_TOKENS_SCOPES_H
#define API_TOKENS_SCOPES_H

#include "postgres.h"

#include "utils/array.h"

/* Most scopes a token may be given, and a validation may require. */
#define API_TOKENS_MAX_SCOPES 256

/* A scope list as (pointer, length) pairs, pointing into a detoasted array. */
typedef struct ScopeList
{
	int count;
	const char **data;
	int *len;
} ScopeList;

/*
 * The required scopes of a validation: NULL or empty for none.  Raises an
 * error for NULL elements, more than one dimension, or too many scopes.
 */
extern ScopeList scopes_required(ArrayType *required);

/*
 * Checks the scopes of a new token: one dimension, at most
 * API_TOKENS_MAX_SCOPES, none NULL, empty or longer than max_chars.
 */
extern void scopes_check_new(ArrayType *scopes, int32 max_chars);

/* True if every required scope is among the token's (NULL: none). */
extern bool scopes_has_all(ArrayType *have, const ScopeList *required);

#endif /* API_TOKENS_SCOPES_H */
