/*
 * forward.h
 *		Uses recorded on a standby, sent to the primary.
 */
#ifndef API_TOKENS_FORWARD_H
#define API_TOKENS_FORWARD_H

#include "postgres.h"

/*
 * Sends the uses recorded for a database on this standby to the primary
 * (api_tokens.forward_conninfo, or the standby's primary_conninfo), in
 * batches; what the primary accepted is forgotten, the rest kept for the
 * next round.  Called by a flusher connected to the database; returns the
 * error (logged, and noted for api_tokens_last_use_state) or NULL.
 */
extern char *forward_database(Oid dboid);

#endif /* API_TOKENS_FORWARD_H */
