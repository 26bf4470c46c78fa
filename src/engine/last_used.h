/*
 * last_used.h
 *		Recording a token's last use without ever waiting or failing for it.
 */
#ifndef API_TOKENS_LAST_USED_H
#define API_TOKENS_LAST_USED_H

#include "postgres.h"

#include "utils/timestamp.h"

#include "engine/use_table.h"

/*
 * True if a use at time at should be written, given the last recorded use
 * (if any): never backwards, at most once per api_tokens.last_used_interval.
 */
extern bool last_used_is_due(bool has_last, TimestampTz last, TimestampTz at);

/*
 * Writes uses of tokens to last_used_at, in the current transaction:
 * throttled, never backwards, waiting for neither the table's lock (when it
 * conflicts) nor a row's, as the worker and the commit of a validating
 * transaction both need.  Sets done[i] for each use that needs no more work
 * (written, not due, or its token or table gone); false means: try again.
 */
extern void last_used_write(const PendingUse *uses, int count, bool *done);

/* Registers the transaction callback; called once from _PG_init. */
extern void last_used_init(void);

/*
 * Notes that the token with this id, in the api_tokens table of schema
 * nspoid, was validated at time now.  With the library preloaded, the use
 * goes to shared memory and the background worker writes it (use_table.c,
 * worker.c).  Otherwise the write happens when the transaction commits,
 * once per token however often it was validated, and only if it can be
 * done at once: it is skipped when another session holds the table or the
 * row locked, when the row changed meanwhile so that no write is due, in
 * read-only and serializable transactions, and on a standby.
 */
extern void last_used_record(Oid nspoid, Datum token_id, TimestampTz now);

#endif /* API_TOKENS_LAST_USED_H */
