/*
 * issue.h
 *		Issuing a token: what api_token_create and api_token_rotate share.
 */
#ifndef API_TOKENS_ISSUE_H
#define API_TOKENS_ISSUE_H

#include "postgres.h"

#include "fmgr.h"

#include "tables/events.h"
#include "tables/token_rows.h"

/* A token just issued: its row's id and the plaintext, returned once. */
typedef struct IssuedToken
{
	Datum id;
	text *token;
} IssuedToken;

/* Checks a token name: not empty, within the name column's length. */
extern void issue_check_name(const TokenTable *table, text *name);

/*
 * The expiry of a new token under api_tokens.max_lifetime: a requested
 * expiry (has_expiry) must lie in the future, and beyond the limit it is
 * refused (22023); none gets the limit.  With cap_only (an expiry carried
 * over by a rotation) one beyond the limit is brought down to it instead.
 */
extern void issue_expiry(bool *has_expiry, TimestampTz *expires_at, bool cap_only);

/* Generates a token and inserts the row for it (hash and prefix filled in). */
extern IssuedToken issue_token(TokenRows *rows, const NewTokenRow *row);

#endif /* API_TOKENS_ISSUE_H */
