/*
 * remote.h
 *		libpq calls of a background worker that a signal interrupts and a
 *		deadline ends.
 *
 * The blocking calls (PQconnectdb, PQexec) wait for the other side as long
 * as TCP does: across a network partition, hours.  A worker stuck there
 * ignores SIGTERM, and a fast shutdown of its server waits for it.  These
 * wait on the process latch and the socket instead, handle interrupts
 * while they wait, and give up at a deadline.
 */
#ifndef API_TOKENS_REMOTE_H
#define API_TOKENS_REMOTE_H

#include "postgres.h"

#include "libpq-fe.h"
#include "utils/timestamp.h"

/*
 * Connects with these keywords and values (PQconnectdbParams's, expanding
 * dbname); NULL on failure, with *error set.
 */
extern PGconn *remote_connect(const char *const *keywords, const char *const *values,
							  TimestampTz deadline, char **error);

/* Closes a connection that remote_connect opened. */
extern void remote_close(PGconn *conn);

/*
 * Runs one statement with text parameters; the last result, or NULL on
 * failure (also a result that is not PGRES_TUPLES_OK or PGRES_COMMAND_OK),
 * with *error set.  After a timeout the connection is unusable.
 */
extern PGresult *remote_exec(PGconn *conn, const char *sql, int nparams, const char *const *values,
							 TimestampTz deadline, char **error);

#endif /* API_TOKENS_REMOTE_H */
