/*
 * use_table.h
 *		What validations leave for the background worker, in shared memory:
 *		the latest use of each token, to be written to last_used_at (or, on
 *		a standby, forwarded to the primary), and the reuses of rotated-out
 *		tokens that their transactions could not act upon.  Only with
 *		shared_preload_libraries = 'api_tokens'.
 *
 * The table is shared by every database of the cluster, and bounded
 * (api_tokens.max_tracked_tokens).  No database can starve another: when
 * the table is full, a token of a database holding fewer tokens than the
 * largest one takes the place of that one's oldest, so that each database
 * can always hold its share.  Every use or reuse that is dropped is
 * counted, for its database.  A database whose flusher fails (it cannot
 * connect, a lock is held too long) is tried again later and later.
 */
#ifndef API_TOKENS_USE_TABLE_H
#define API_TOKENS_USE_TABLE_H

#include "postgres.h"

#include "storage/latch.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

/* A token of a database: the key of what waits for it. */
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

/* A reuse of a rotated-out token that waits for the flusher. */
typedef struct QueuedReuse
{
	UseKey key;
	bool revoke_family; /* api_tokens.rotated_reuse where it was seen */
} QueuedReuse;

/* Reserves and creates the shared state; called from the preload hooks. */
extern void use_table_shmem_request(void);
extern void use_table_shmem_startup(void);

/* True if this server keeps uses in shared memory (the library was preloaded). */
extern bool use_table_enabled(void);

/*
 * Records that a token was used at time at.  Never waits for anything but
 * a short lock; when the table is full the use may be dropped (and
 * counted), and the worker is woken to make room.
 */
extern void use_table_record(const UseKey *key, TimestampTz at);

/* Records a reuse for the flusher (a later one only adds revoke_family); false if dropped. */
extern bool use_table_record_reuse(const QueuedReuse *reuse);

/* The databases with something waiting whose flusher is due now (palloc'd), and how many. */
extern Oid *use_table_databases_due(TimestampTz now, int *count);

/* Every database with something waiting (palloc'd), and how many. */
extern Oid *use_table_databases(int *count);

/* Up to limit recorded uses of a database (a palloc'd copy, by schema), and how many. */
extern PendingUse *use_table_of_database(Oid dboid, int limit, int *count);

/* Takes the reuses waiting for a database out of the table (palloc'd), and how many. */
extern QueuedReuse *use_table_take_reuses(Oid dboid, int *count);

/* Forgets a use once written or no longer wanted, unless a later one came in. */
extern void use_table_forget(const UseKey *key, TimestampTz up_to);

/* Forgets everything of a database (dropped) or of one of its schemas. */
extern void use_table_forget_all(Oid dboid, Oid nspoid);

/* Bookkeeping reported by api_tokens_last_use_state(). */
typedef enum UsesCounter
{
	USES_FLUSHED,	/* written to last_used_at */
	USES_FORWARDED, /* sent to the primary (on a standby) */
	USES_RECEIVED	/* received from standbys (on a primary) */
} UsesCounter;

extern void use_table_count(UsesCounter counter, int64 n);

/* Notes an error of the work for a database (InvalidOid: of none in particular). */
extern void use_table_note_error(Oid dboid, const char *message);

/*
 * The launcher's record of a database's flusher: started, and, when the
 * flusher has stopped, whether it said it finished (else it failed, for
 * instance when it could not connect).  A failure puts the database's next
 * attempt off, twice as long each time, up to an hour.
 */
extern void use_table_flusher_started(Oid dboid);
extern bool use_table_flusher_stopped(Oid dboid);
extern void use_table_database_failed(Oid dboid, const char *message);

/* Called by the flusher at its end: error is NULL when all went well. */
extern void use_table_flusher_finished(Oid dboid, const char *error);

/*
 * Notes that limit_table.c holds credits of the database to write, so that
 * the launcher starts its flusher; the flusher takes the note (true if
 * there was one) before it writes them.
 */
extern void use_table_note_credits(Oid dboid);
extern bool use_table_take_credits(Oid dboid);

/* True if the launcher was stopped in order: a clean shutdown, whose state may be saved. */
extern bool use_table_stopped_in_order(void);

/* True (once) if the table filled up since the last call: flush now. */
extern bool use_table_take_flush_request(void);

/*
 * The launcher's latch, woken when the table fills up; NULL when the
 * launcher stops in order, which lets a clean shutdown save the table.
 */
extern void use_table_set_launcher(Latch *latch);

#endif /* API_TOKENS_USE_TABLE_H */
