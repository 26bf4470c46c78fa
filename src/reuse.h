/*
 * reuse.h
 *		What happens when a token rotated out after its grace is presented.
 */
#ifndef API_TOKENS_REUSE_H
#define API_TOKENS_REUSE_H

#include "postgres.h"

/* Registers the transaction callback; called once from _PG_init. */
extern void reuse_init(void);

/*
 * Notes that the rotated-out token token_id of user user_id, in schema
 * nspoid, was presented.  When the transaction commits, every active token
 * descended from it is revoked if api_tokens.rotated_reuse = revoke_family,
 * and a reused event is recorded, unless one was within the last-use
 * interval and nothing was revoked.  Nothing is written where nothing can
 * be (read-only transactions, standbys).
 */
extern void reuse_note(Oid nspoid, Datum token_id, Datum user_id);

#endif /* API_TOKENS_REUSE_H */
