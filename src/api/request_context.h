/*
 * request_context.h
 *		The transaction's authenticated token, for Row Level Security.
 */
#ifndef API_TOKENS_REQUEST_CONTEXT_H
#define API_TOKENS_REQUEST_CONTEXT_H

#include "postgres.h"

#include "utils/array.h"

/* Registers the transaction callbacks; called once from _PG_init. */
extern void request_context_init(void);

/*
 * Makes a valid token (uuid Datums; scopes NULL for none) the transaction's
 * authenticated token.
 */
extern void request_context_set(Datum token_id, Datum user_id, ArrayType *scopes);

/*
 * Leaves the transaction unauthenticated, whatever was authenticated
 * before in it: for a token that is not valid, or none at all.
 */
extern void request_context_clear(void);

#endif /* API_TOKENS_REQUEST_CONTEXT_H */
