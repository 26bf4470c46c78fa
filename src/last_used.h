/*
 * last_used.h
 *		Recording a token's last use without ever waiting or failing for it.
 */
#ifndef API_TOKENS_LAST_USED_H
#define API_TOKENS_LAST_USED_H

#include "postgres.h"

#include "storage/itemptr.h"
#include "utils/timestamp.h"

/*
 * Sets last_used_at = now on the row version at tid (whose id is token_id)
 * of the table named qualified_table, if that can be done at once: it is
 * skipped, silently, when another session holds the row lock or has changed
 * the row, in read-only and serializable transactions, and on a standby.
 */
extern void last_used_record(const char *qualified_table, ItemPointer tid, Datum token_id,
							 TimestampTz now);

#endif /* API_TOKENS_LAST_USED_H */
