/*
 * reuse_queue.h
 *		Reuses of rotated-out tokens seen where they could not be acted upon
 *		(a read-only transaction, or one that failed, such as PostgREST's
 *		after the pre-request refused the token), kept in shared memory for
 *		the database's flusher.  Only with shared_preload_libraries =
 *		'api_tokens', and only on a primary.
 */
#ifndef API_TOKENS_REUSE_QUEUE_H
#define API_TOKENS_REUSE_QUEUE_H

#include "postgres.h"

#include "utils/uuid.h"

/* Tokens whose reuse can wait at once; more are dropped (and counted). */
#define REUSE_QUEUE_SIZE 64

typedef struct QueuedReuse
{
	Oid dboid;
	Oid nspoid; /* the extension's schema */
	pg_uuid_t token_id;
	pg_uuid_t user_id;
	bool revoke_family; /* api_tokens.rotated_reuse where it was seen */
} QueuedReuse;

/* Reserves and creates the shared queue; called from the preload hooks. */
extern void reuse_queue_shmem_request(void);
extern void reuse_queue_shmem_startup(void);

/* True if this server has the queue (the library was preloaded). */
extern bool reuse_queue_enabled(void);

/*
 * Queues a reuse (once per token: a later one only adds revoke_family);
 * false if the queue is full.
 */
extern bool reuse_queue_add(const QueuedReuse *reuse);

/* The database of each queued reuse, repeated as often (palloc'd), and how many. */
extern Oid *reuse_queue_databases(int *count);

/* Takes the queued reuses of a database out of the queue (palloc'd), and how many. */
extern QueuedReuse *reuse_queue_take(Oid dboid, int *count);

#endif /* API_TOKENS_REUSE_QUEUE_H */
