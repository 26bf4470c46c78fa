/*
 * context.h
 *		The transaction's authenticated token, for Row Level Security.
 */
#ifndef API_TOKENS_CONTEXT_H
#define API_TOKENS_CONTEXT_H

#include "postgres.h"

#include "validate.h"

/* Registers the transaction callbacks; called once from _PG_init. */
extern void context_init(void);

/*
 * Makes a valid token the transaction's authenticated token; any other
 * outcome, or NULL (no token presented), leaves the transaction
 * unauthenticated, whatever was authenticated before in it.
 */
extern void context_authenticated(const Validation *validation);

#endif /* API_TOKENS_CONTEXT_H */
