/*
 * validate.h
 *		Validating a presented token: the core shared by api_token_validate,
 *		api_token_authenticate and api_tokens_pre_request.
 */
#ifndef API_TOKENS_VALIDATE_H
#define API_TOKENS_VALIDATE_H

#include "postgres.h"

#include "utils/array.h"

#include "api/scopes.h"

/* The outcome of a validation; its name is the status column's value. */
typedef enum TokenStatus
{
	TOKEN_VALID,
	TOKEN_MALFORMED,		 /* not a token of this format, or a bad checksum */
	TOKEN_UNKNOWN,			 /* well-formed, but no row has its hash */
	TOKEN_INACTIVE,			 /* revoked */
	TOKEN_EXPIRED,			 /* past expires_at */
	TOKEN_ROTATED,			 /* inactive or expired because it was rotated out */
	TOKEN_INSUFFICIENT_SCOPE /* lacks a required scope */
} TokenStatus;

/* The name of a status, as api_token_validate returns it. */
extern const char *token_status_name(TokenStatus status);

typedef struct Validation
{
	TokenStatus status;
	bool found; /* the token's row was found: the fields below are set */
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
extern void validate_token(Oid nspoid, Datum token, bool token_isnull, const ScopeList *required,
						   Validation *out);

#endif /* API_TOKENS_VALIDATE_H */
