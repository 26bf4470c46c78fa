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
	TOKEN_MALFORMED,		  /* not a token of this format, or a bad checksum */
	TOKEN_UNKNOWN,			  /* well-formed, but no row has its hash */
	TOKEN_INACTIVE,			  /* revoked */
	TOKEN_EXPIRED,			  /* past expires_at */
	TOKEN_ROTATED,			  /* inactive or expired because it was rotated out */
	TOKEN_INSUFFICIENT_SCOPE, /* lacks a required scope */
	TOKEN_ADDRESS_DENIED,	  /* its allowlist does not hold the client's address */
	TOKEN_RATE_LIMITED,		  /* over its rate limit */
	TOKEN_USAGE_EXCEEDED	  /* fewer credits left than the validation costs */
} TokenStatus;

/* The name of a status, as api_token_validate returns it. */
extern const char *token_status_name(TokenStatus status);

typedef struct Validation
{
	TokenStatus status;
	bool found; /* the token's row was found: the fields below are set */
	Datum id;
	Datum user_id;
	ArrayType *scopes;		 /* NULL if the token has none */
	int32 retry_after;		 /* seconds, when rate limited (or out of credits until a refill); -1 */
	int64 credits_remaining; /* when the token has credits; -1 otherwise */
} Validation;

/* What a caller asks of a validation. */
typedef struct ValidationRequest
{
	ScopeList required; /* scopes the token must have */
	bool has_address;
	Datum address; /* inet: the client's, for an allowlist */
	int32 cost;	   /* credits a valid token spends */
} ValidationRequest;

/* No scopes, no address, a cost of 1: what api_token_validate asks. */
extern void validation_request_init(ValidationRequest *request);

/*
 * Validates token (a text datum; NULL when token_isnull) against the
 * api_tokens table of schema nspoid and the token's limits, as request
 * asks.  Notes a use when the token is valid and one is due, and a reuse
 * when the token was rotated out.
 */
extern void validate_token(Oid nspoid, Datum token, bool token_isnull,
						   const ValidationRequest *request, Validation *out);

#endif /* API_TOKENS_VALIDATE_H */
