/*
 * token_functions.h
 *		Token helpers shared by the SQL-callable functions.
 */
#ifndef API_TOKENS_TOKEN_FUNCTIONS_H
#define API_TOKENS_TOKEN_FUNCTIONS_H

#include "postgres.h"

/*
 * True if the text datum is a well-formed token.  Values longer than any
 * token are rejected from their stored size, without being detoasted.
 */
extern bool token_datum_is_wellformed(Datum token);

/* A new token of the configured brand (api_tokens.brand). */
extern text *token_new(void);

/* The lowercase hex SHA-256 of a token, as token_hash stores it. */
extern text *token_hash_text(const text *token);

/* The first characters of a token, as token_prefix stores them. */
extern text *token_prefix_text(const text *token);

#endif /* API_TOKENS_TOKEN_FUNCTIONS_H */
