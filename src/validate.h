/*
 * validate.h
 *		Validating a presented token: the core shared by api_token_validate,
 *		api_token_authenticate and api_tokens_pre_request.
 */
#ifndef API_TOKENS_VALIDATE_H
#define API_TOKENS_VALIDATE_H

#include "postgres.h"

#include "utils/array.h"

#include "scopes.h"

typedef struct Validation
{
	const char *status; /* valid, malformed, unknown, inactive, expired, rotated,
						 * insufficient_scope */
	bool found;			/* the token's row was found: the fields below are set */
	Datum id;
	Datum user_id;
	ArrayType *scopes; /* NULL if the token has none */
} Validation;

/*
 * Validates token (a text datum; NULL when token_isnull) against the
 * api_tokens table of schema nspoid, requiring every scope of required.
 * Notes a use when the token is valid and one is due, and a reuse when the
 * token was rotated out.
 */
extern void validation_run(Oid nspoid, Datum token, bool token_isnull, const ScopeList *required,
						   Validation *out);

#endif /* API_TOKENS_VALIDATE_H */
