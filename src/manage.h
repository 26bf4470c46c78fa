/*
 * manage.h
 *		Pieces shared by the functions that issue, rotate and revoke tokens.
 */
#ifndef API_TOKENS_MANAGE_H
#define API_TOKENS_MANAGE_H

#include "postgres.h"

#include "fmgr.h"

#include "events.h"
#include "token_rows.h"

/* A token just issued: its row's id and the plaintext, returned once. */
typedef struct IssuedToken
{
	Datum id;
	text *token;
} IssuedToken;

/* Raises the error for a NULL argument that must not be NULL (22004). */
extern void manage_require_not_null(FunctionCallInfo fcinfo, int argno, const char *name);

/*
 * Takes the per-user transaction lock: shared by the functions that issue
 * tokens, exclusive for api_token_revoke_user.
 */
extern void manage_lock_user(Datum user_id, bool exclusive);

/*
 * With a transaction snapshot (REPEATABLE READ, SERIALIZABLE): raises a
 * serialization failure if a token of the user exists that the snapshot
 * does not show (seen: the ids it shows).  Created by a transaction that
 * committed after the snapshot was taken, it would escape a revocation.
 */
extern void manage_fail_on_unseen_tokens(TokenRows *rows, Datum user_id, List *seen);

/* Checks a token name: not empty, within the name column's length. */
extern void manage_check_name(const TokenTable *table, text *name);

/*
 * The expiry of a new token under api_tokens.max_lifetime: a requested
 * expiry (has_expiry) must lie in the future, and beyond the limit it is
 * refused (22023); none gets the limit.  With cap_only (an expiry carried
 * over by a rotation) one beyond the limit is brought down to it instead.
 */
extern void manage_expiry(bool *has_expiry, TimestampTz *expires_at, bool cap_only);

/* Generates a token and inserts the row for it (hash and prefix filled in). */
extern IssuedToken manage_issue(TokenRows *rows, const NewTokenRow *row);

/*
 * Deactivates each token of ids (sorted, see token_rows_sort_ids) that is
 * still active and, if user_id is not NULL, still belongs to that user;
 * records a revoked event for each, with how.  Returns how many.
 */
extern int manage_revoke_ids(TokenRows *rows, EventWriter *events, List *ids, const Datum *user_id,
							 const char *how);

#endif /* API_TOKENS_MANAGE_H */
