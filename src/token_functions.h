/*
 * token_functions.h
 *		Helpers shared by the SQL-callable token functions.
 */
#ifndef API_TOKENS_TOKEN_FUNCTIONS_H
#define API_TOKENS_TOKEN_FUNCTIONS_H

#include "postgres.h"

/*
 * True if the text datum is a well-formed token.  Values longer than any
 * token are rejected from their stored size, without being detoasted.
 */
extern bool token_datum_is_wellformed(Datum token);

#endif /* API_TOKENS_TOKEN_FUNCTIONS_H */
