/*
 * reuse.h
 *		What happens when a token rotated out after its grace is presented.
 */
#ifndef API_TOKENS_REUSE_H
#define API_TOKENS_REUSE_H

#include "postgres.h"

#include "engine/use_table.h"

/* Registers the transaction callback; called once from _PG_init. */
extern void reuse_init(void);

/*
 * Notes that the rotated-out token token_id, in schema nspoid, was
 * presented.  When the transaction commits, reuse_act runs for it; a
 * transaction that cannot write (READ ONLY), must not (SERIALIZABLE), or
 * does not commit, hands it to the database's flusher if the library is
 * preloaded.  On a standby nothing is done.
 */
extern void reuse_note(Oid nspoid, Datum token_id);

/*
 * Acts on a reuse: revokes every active token descended from it if
 * revoke_family, and records a reused event, unless one was within the
 * last-use interval and nothing was revoked.
 */
extern void reuse_act(const QueuedReuse *reuse);

#endif /* API_TOKENS_REUSE_H */
