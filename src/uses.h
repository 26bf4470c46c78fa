/*
 * uses.h
 *		Token uses recorded in shared memory, for the background worker to
 *		write (or, on a standby, to forward).  Only with
 *		shared_preload_libraries = 'api_tokens'.
 */
#ifndef API_TOKENS_USES_H
#define API_TOKENS_USES_H

#include "postgres.h"

#include "storage/latch.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

/* A token of a database: the key of a recorded use. */
typedef struct UseKey
{
	Oid dboid;
	Oid nspoid; /* the extension's schema */
	pg_uuid_t token_id;
} UseKey;

/* A recorded use, as the flusher sees it. */
typedef struct PendingUse
{
	UseKey key;
	TimestampTz at; /* the latest use */
} PendingUse;

/* Reserves and creates the shared state; called from the preload hooks. */
extern void uses_shmem_request(void);
extern void uses_shmem_startup(void);

/* True if this server keeps uses in shared memory (the library was preloaded). */
extern bool uses_enabled(void);

/*
 * Records that a token was used at time at.  Never waits for anything but
 * a short lock; when the table is full the use is dropped (and counted),
 * and the worker is woken to make room.
 */
extern void uses_record(const UseKey *key, TimestampTz at);

/* The databases with recorded uses (palloc'd), and how many. */
extern Oid *uses_databases(int *count);

/* Up to limit recorded uses of a database (a palloc'd copy), and how many. */
extern PendingUse *uses_of_database(Oid dboid, int limit, int *count);

/* Forgets a use once written or no longer wanted, unless a later one came in. */
extern void uses_forget(const UseKey *key, TimestampTz up_to);

/* Forgets every use of a database (dropped) or of one of its schemas. */
extern void uses_forget_all(Oid dboid, Oid nspoid);

/* Bookkeeping reported by api_tokens_last_use_state(). */
typedef enum UsesCounter
{
	USES_FLUSHED,	/* written to last_used_at */
	USES_FORWARDED, /* sent to the primary (on a standby) */
	USES_RECEIVED	/* received from standbys (on a primary) */
} UsesCounter;

extern void uses_count(UsesCounter counter, int64 n);
extern void uses_note_flush(void);
extern void uses_note_error(const char *message);

/* True (once) if the table filled up since the last call: flush now. */
extern bool uses_take_flush_request(void);

/*
 * The launcher's latch, woken when the table fills up; NULL when the
 * launcher stops in order, which lets a clean shutdown save the table.
 */
extern void uses_set_launcher(Latch *latch);

#endif /* API_TOKENS_USES_H */
