/*
 * manage.h
 *		Pieces shared by the functions that issue, rotate and revoke tokens.
 */
#ifndef API_TOKENS_MANAGE_H
#define API_TOKENS_MANAGE_H

#include "postgres.h"

#include "token_rows.h"

/* A token just issued: its row's id and the plaintext, returned once. */
typedef struct IssuedToken
{
	Datum id;
	text *token;
} IssuedToken;

/*
 * Takes the per-user transaction lock: shared by the functions that issue
 * tokens, exclusive for api_token_revoke_user.
 */
extern void manage_lock_user(Datum user_id, bool exclusive);

/* Checks a token name: not empty, within the name column's length. */
extern void manage_check_name(const TokenTable *table, text *name);

/* Generates a token and inserts the row for it (hash and prefix filled in). */
extern IssuedToken manage_issue(TokenRows *rows, const NewTokenRow *row);

#endif /* API_TOKENS_MANAGE_H */
