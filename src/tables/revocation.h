/*
 * revocation.h
 *		Revoking tokens, and the per-user lock of issuing and revoking.
 */
#ifndef API_TOKENS_REVOCATION_H
#define API_TOKENS_REVOCATION_H

#include "postgres.h"

#include "nodes/pg_list.h"

#include "tables/events.h"
#include "tables/token_rows.h"

/*
 * Takes the per-user transaction lock: shared by the functions that issue
 * tokens, exclusive for those that revoke every token of a user or of a
 * lineage.
 */
extern void revocation_lock_user(Datum user_id, bool exclusive);

/*
 * With a transaction snapshot (REPEATABLE READ, SERIALIZABLE): raises a
 * serialization failure if a token of the user exists that the snapshot
 * does not show (seen: the ids it shows).  Created by a transaction that
 * committed after the snapshot was taken, it would escape a revocation.
 */
extern void revocation_fail_on_unseen_tokens(TokenRows *rows, Datum user_id, List *seen);

/*
 * Deactivates each token of ids (sorted, see token_rows_sort_ids) that is
 * still active and, if user_id is not NULL, still belongs to that user;
 * records a revoked event for each, with how.  Returns how many.
 */
extern int revocation_revoke_ids(TokenRows *rows, EventWriter *events, List *ids,
								 const Datum *user_id, const char *how);

/*
 * Revokes the active tokens of token_id's lineage (whole: all of it, the
 * token included; otherwise only the tokens descended from it), recording
 * revoked events with how.  Returns how many.
 */
extern int revocation_revoke_lineage(Oid nspoid, Datum token_id, bool whole, const char *how);

#endif /* API_TOKENS_REVOCATION_H */
