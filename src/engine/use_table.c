/*
 * use_table.c
 *		The shared table of what validations leave for the background
 *		worker: uses to write, reuses to act upon (see use_table.h).
 *
 * Two shared hash tables under one LWLock: tokens (one entry per token
 * with something waiting) and databases (one per database with tokens in
 * the first, or a flusher's failure to remember).  Recording a use of a
 * token already in the table takes the lock in shared mode and the entry's
 * spinlock; adding a token takes it exclusively.  Each database keeps its
 * tokens in a list, oldest first, so that the flusher reads only its own
 * and a full table can give a database's share back fairly.
 *
 * A clean shutdown saves the tokens to pg_stat/api_tokens_uses.dat, and the
 * next start loads them (as pg_stat_statements does with its statistics);
 * after a crash the file is not written and what waited is lost.  The file
 * is read as untrusted data: its version and entry size must match, and a
 * use time beyond the moment it is loaded counts as that moment.
 */
#include "postgres.h"

#include <unistd.h>

#include "fmgr.h"
#include "funcapi.h"
#include "lib/ilist.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "port/atomics.h"
#include "storage/fd.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/tuplestore.h"

#include "engine/saved_file.h"
#include "engine/use_table.h"
#include "settings.h"

#define USES_FILE PGSTAT_STAT_PERMANENT_DIRECTORY "/api_tokens_uses.dat"
#define USES_FILE_MAGIC 0x61707475 /* "aptu" */
#define USES_FILE_VERSION 2

/* Databases the table keeps at once, at most. */
#define MAX_TRACKED_DATABASES 10000
/* The longest a failing database's flusher is put off. */
#define MAX_RETRY_DELAY_MS (3600 * 1000L)

typedef struct TokenEntry
{
	UseKey key;
	dlist_node in_database; /* its database's tokens, oldest first */
	slock_t mutex;			/* protects used_at */
	TimestampTz used_at;	/* the latest use, 0 for none */
	bool reused;			/* a reuse waits */
	bool revoke_family;
} TokenEntry;

typedef struct DatabaseEntry
{
	Oid dboid;
	dlist_head tokens;	  /* its TokenEntries, oldest first */
	int64 count;		  /* how many */
	int64 dropped;		  /* uses dropped since the server started */
	int64 reuses_dropped; /* reuses dropped */
	bool credits_waiting; /* limit_table.c has credits to write */
	int failures;		  /* flushes failed in a row */
	bool flusher_running; /* started, and has not said it finished */
	TimestampTz retry_at; /* no flusher before, after a failure */
	TimestampTz last_flush;
	TimestampTz last_error_at;
	char last_error[128];
} DatabaseEntry;

typedef struct UsesState
{
	LWLock *lock; /* both tables; the counters in entries */
	pg_atomic_uint64 recorded;
	pg_atomic_uint64 dropped;
	pg_atomic_uint64 reuses_dropped;
	pg_atomic_uint32 flush_requested; /* set when full: flush before the interval */
	slock_t mutex;					  /* protects the fields below */
	int64 flushed;
	int64 forwarded;
	int64 received;
	TimestampTz last_flush;
	TimestampTz last_error_at;
	char last_error[256];
	Latch *launcher;
	bool launcher_stopped; /* the launcher was stopped in order (SIGTERM) */
} UsesState;

/* One token as saved in the file. */
typedef struct SavedToken
{
	UseKey key;
	TimestampTz used_at;
	bool reused;
	bool revoke_family;
} SavedToken;

static UsesState *shared = NULL;
static HTAB *tokens = NULL;
static HTAB *databases = NULL;

static int
database_capacity(void)
{
	return Min(api_tokens_max_tracked_tokens, MAX_TRACKED_DATABASES);
}

static Size
shmem_size(void)
{
	Size size = MAXALIGN(sizeof(UsesState));

	size = add_size(size, hash_estimate_size(api_tokens_max_tracked_tokens, sizeof(TokenEntry)));
	return add_size(size, hash_estimate_size(database_capacity(), sizeof(DatabaseEntry)));
}

void
use_table_shmem_request(void)
{
	RequestAddinShmemSpace(shmem_size());
	RequestNamedLWLockTranche("api_tokens", 1);
}

/*
 * The database's entry (found under either lock); created if missing and
 * room can be found (exclusive lock).
 */
static DatabaseEntry *
database_entry(Oid dboid, bool create)
{
	DatabaseEntry *db = hash_search(databases, &dboid, HASH_FIND, NULL);
	bool found;

	if (db != NULL || !create)
		return db;
	/* Full: take the place of a database with nothing waiting. */
	if (hash_get_num_entries(databases) >= database_capacity())
	{
		HASH_SEQ_STATUS status;
		DatabaseEntry *idle;

		hash_seq_init(&status, databases);
		while ((idle = hash_seq_search(&status)) != NULL)
			if (idle->count == 0 && !idle->flusher_running && !idle->credits_waiting)
			{
				hash_seq_term(&status);
				break;
			}
		if (idle == NULL)
			return NULL;
		hash_search(databases, &idle->dboid, HASH_REMOVE, NULL);
	}
	db = hash_search(databases, &dboid, HASH_ENTER_NULL, &found);
	if (db == NULL)
		return NULL;
	memset((char *) db + sizeof(Oid), 0, sizeof(DatabaseEntry) - sizeof(Oid));
	dlist_init(&db->tokens);
	return db;
}

/* Forgets a database with nothing waiting and nothing to remember (exclusive lock). */
static void
database_release_if_idle(DatabaseEntry *db)
{
	if (db->count == 0 && !db->flusher_running && db->failures == 0 && db->dropped == 0 &&
		db->reuses_dropped == 0 && !db->credits_waiting)
		hash_search(databases, &db->dboid, HASH_REMOVE, NULL);
}

/* Removes a token (exclusive lock); what still waited in it is counted as dropped if asked. */
static void
remove_token(DatabaseEntry *db, TokenEntry *entry, bool count_dropped)
{
	if (count_dropped)
	{
		if (entry->used_at != 0)
		{
			db->dropped++;
			pg_atomic_fetch_add_u64(&shared->dropped, 1);
		}
		if (entry->reused)
		{
			db->reuses_dropped++;
			pg_atomic_fetch_add_u64(&shared->reuses_dropped, 1);
		}
	}
	dlist_delete(&entry->in_database);
	db->count--;
	hash_search(tokens, &entry->key, HASH_REMOVE, NULL);
}

/*
 * Makes room in the full table for a token of db: takes the oldest token
 * of the database holding the most, if that one holds at least two more
 * than db.  False if db already holds its share.
 */
static bool
make_room(DatabaseEntry *db)
{
	HASH_SEQ_STATUS status;
	DatabaseEntry *largest = NULL;
	DatabaseEntry *other;

	hash_seq_init(&status, databases);
	while ((other = hash_seq_search(&status)) != NULL)
		if (largest == NULL || other->count > largest->count)
			largest = other;
	if (largest == NULL || largest == db || largest->count <= db->count + 1)
		return false;
	/* cppcheck-suppress nullPointer ; the macro's NULL is only in __typeof__ */
	remove_token(largest, dlist_head_element(TokenEntry, in_database, &largest->tokens), true);
	return true;
}

/*
 * The token's entry, added if missing and there is room for its database
 * (exclusive lock); NULL if there is not.  *db is set either way, NULL when
 * the database table itself is full.
 */
static TokenEntry *
token_entry(const UseKey *key, DatabaseEntry **db)
{
	TokenEntry *entry = hash_search(tokens, key, HASH_FIND, NULL);
	bool found;

	*db = database_entry(key->dboid, true);
	if (entry != NULL || *db == NULL)
		return entry;
	if (hash_get_num_entries(tokens) >= api_tokens_max_tracked_tokens && !make_room(*db))
		return NULL;
	entry = hash_search(tokens, key, HASH_ENTER_NULL, &found);
	if (entry == NULL)
		return NULL;
	SpinLockInit(&entry->mutex);
	entry->used_at = 0;
	entry->reused = false;
	entry->revoke_family = false;
	dlist_push_tail(&(*db)->tokens, &entry->in_database);
	(*db)->count++;
	return entry;
}

/* Counts what could not be kept, and has the worker make room now. */
static void
count_drop(DatabaseEntry *db, bool reuse)
{
	Latch *launcher;

	if (db != NULL)
	{
		if (reuse)
			db->reuses_dropped++;
		else
			db->dropped++;
	}
	pg_atomic_fetch_add_u64(reuse ? &shared->reuses_dropped : &shared->dropped, 1);
	pg_atomic_write_u32(&shared->flush_requested, 1);
	SpinLockAcquire(&shared->mutex);
	launcher = shared->launcher;
	SpinLockRelease(&shared->mutex);
	if (launcher)
		SetLatch(launcher);
}

/* The file a clean shutdown keeps the table in. */
static SavedFile
uses_file(void)
{
	SavedFile file = {.path = USES_FILE,
					  .what = "recorded uses",
					  .magic = USES_FILE_MAGIC,
					  .version = USES_FILE_VERSION,
					  .entry_size = sizeof(SavedToken)};

	return file;
}

/* Saves the table at a clean shutdown of the postmaster. */
static void
save_uses(int code, Datum arg)
{
	SavedFile file = uses_file();
	HASH_SEQ_STATUS status;
	TokenEntry *entry;

	/*
	 * A crash, or an immediate shutdown (which stops the launcher without
	 * running its exit callbacks): the table may be inconsistent, a backend
	 * may have been killed while changing it.  Do not keep it.
	 */
	if (code != 0 || shared == NULL || !shared->launcher_stopped)
		return;
	saved_file_create(&file, (uint32) hash_get_num_entries(tokens));
	hash_seq_init(&status, tokens);
	while ((entry = hash_seq_search(&status)) != NULL)
	{
		SavedToken saved;

		memset(&saved, 0, sizeof(saved));
		saved.key = entry->key;
		saved.used_at = entry->used_at;
		saved.reused = entry->reused;
		saved.revoke_family = entry->revoke_family;
		if (!saved_file_put(&file, &saved))
		{
			hash_seq_term(&status);
			break;
		}
	}
	saved_file_finish(&file);
}

/* Adds a token read from the file; its use time no later than now. */
static void
load_token(const SavedToken *saved, TimestampTz now)
{
	DatabaseEntry *db;
	TokenEntry *entry;
	TimestampTz used_at = saved->used_at;

	/* Later than now (the end of time included) is now; before time began, nothing. */
	if (used_at > now)
		used_at = now;
	else if (TIMESTAMP_IS_NOBEGIN(used_at))
		used_at = 0;
	if (used_at == 0 && !saved->reused)
		return;
	entry = token_entry(&saved->key, &db);
	if (entry == NULL)
		return;
	entry->used_at = Max(entry->used_at, used_at);
	entry->reused = saved->reused;
	entry->revoke_family = saved->revoke_family;
}

/* Loads what the last clean shutdown saved, once, then removes the file. */
static void
load_saved_uses(void)
{
	SavedFile file = uses_file();
	SavedToken saved;
	TimestampTz now = GetCurrentTimestamp();
	uint32 count;

	if (!saved_file_open(&file, &count))
		return;
	for (uint32 i = 0; i < count && saved_file_get(&file, &saved); i++)
		load_token(&saved, now);
	saved_file_close(&file);
}

void
use_table_shmem_startup(void)
{
	HASHCTL info;
	bool found;

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	shared = ShmemInitStruct("api_tokens", sizeof(UsesState), &found);
	if (!found)
	{
		memset(shared, 0, sizeof(UsesState));
		shared->lock = &(GetNamedLWLockTranche("api_tokens"))->lock;
		pg_atomic_init_u64(&shared->recorded, 0);
		pg_atomic_init_u64(&shared->dropped, 0);
		pg_atomic_init_u64(&shared->reuses_dropped, 0);
		pg_atomic_init_u32(&shared->flush_requested, 0);
		SpinLockInit(&shared->mutex);
	}
	info.keysize = sizeof(UseKey);
	info.entrysize = sizeof(TokenEntry);
	tokens = ShmemInitHash("api_tokens tokens", api_tokens_max_tracked_tokens,
						   api_tokens_max_tracked_tokens, &info, HASH_ELEM | HASH_BLOBS);
	info.keysize = sizeof(Oid);
	info.entrysize = sizeof(DatabaseEntry);
	databases = ShmemInitHash("api_tokens databases", database_capacity(), database_capacity(),
							  &info, HASH_ELEM | HASH_BLOBS);
	LWLockRelease(AddinShmemInitLock);

	/* In the postmaster: load what the last shutdown saved, save at exit. */
	if (!IsUnderPostmaster)
	{
		if (!found)
			load_saved_uses();
		on_shmem_exit(save_uses, (Datum) 0);
	}
}

bool
use_table_enabled(void)
{
	return shared != NULL;
}

void
use_table_record(const UseKey *key, TimestampTz at)
{
	TokenEntry *entry;
	DatabaseEntry *db;

	pg_atomic_fetch_add_u64(&shared->recorded, 1);
	LWLockAcquire(shared->lock, LW_SHARED);
	entry = hash_search(tokens, key, HASH_FIND, NULL);
	if (entry != NULL)
	{
		SpinLockAcquire(&entry->mutex);
		if (entry->used_at < at)
			entry->used_at = at;
		SpinLockRelease(&entry->mutex);
		LWLockRelease(shared->lock);
		return;
	}
	LWLockRelease(shared->lock);

	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	entry = token_entry(key, &db);
	if (entry != NULL && entry->used_at < at)
		entry->used_at = at;
	if (entry == NULL)
		count_drop(db, false);
	LWLockRelease(shared->lock);
}

bool
use_table_record_reuse(const QueuedReuse *reuse)
{
	TokenEntry *entry;
	DatabaseEntry *db;

	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	entry = token_entry(&reuse->key, &db);
	if (entry != NULL)
	{
		entry->reused = true;
		entry->revoke_family |= reuse->revoke_family;
	}
	else
		count_drop(db, true);
	LWLockRelease(shared->lock);
	return entry != NULL;
}

Oid *
use_table_databases_due(TimestampTz now, int *count)
{
	HASH_SEQ_STATUS status;
	DatabaseEntry *db;
	Oid *dbs;
	int n = 0;

	LWLockAcquire(shared->lock, LW_SHARED);
	dbs = palloc(sizeof(Oid) * (hash_get_num_entries(databases) + 1));
	hash_seq_init(&status, databases);
	while ((db = hash_seq_search(&status)) != NULL)
		if ((db->count > 0 || db->credits_waiting) && db->retry_at <= now)
			dbs[n++] = db->dboid;
	LWLockRelease(shared->lock);
	*count = n;
	return dbs;
}

Oid *
use_table_databases(int *count)
{
	return use_table_databases_due(DT_NOEND, count);
}

static int
compare_schema(const void *a, const void *b)
{
	Oid x = ((const PendingUse *) a)->key.nspoid;
	Oid y = ((const PendingUse *) b)->key.nspoid;

	return (x > y) - (x < y);
}

PendingUse *
use_table_of_database(Oid dboid, int limit, int *count)
{
	DatabaseEntry *db;
	PendingUse *pending;
	int n = 0;

	LWLockAcquire(shared->lock, LW_SHARED);
	db = database_entry(dboid, false);
	pending = palloc(sizeof(PendingUse) * Max(Min(limit, db ? db->count : 0), 1));
	if (db != NULL)
	{
		dlist_iter iter;

		dlist_foreach(iter, &db->tokens)
		{
			/* cppcheck-suppress nullPointer ; the macro's NULL is only in __typeof__ */
			TokenEntry *entry = dlist_container(TokenEntry, in_database, iter.cur);

			if (n == limit)
				break;
			SpinLockAcquire(&entry->mutex);
			pending[n].at = entry->used_at;
			SpinLockRelease(&entry->mutex);
			if (pending[n].at == 0)
				continue;
			pending[n].key = entry->key;
			n++;
		}
	}
	LWLockRelease(shared->lock);
	/* Uses of one schema together: one table opened per schema, one batch forwarded. */
	qsort(pending, n, sizeof(PendingUse), compare_schema);
	*count = n;
	return pending;
}

QueuedReuse *
use_table_take_reuses(Oid dboid, int *count)
{
	DatabaseEntry *db;
	QueuedReuse *taken;
	int n = 0;

	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	db = database_entry(dboid, false);
	taken = palloc(sizeof(QueuedReuse) * Max(db ? db->count : 0, 1));
	if (db != NULL)
	{
		dlist_mutable_iter iter;

		dlist_foreach_modify(iter, &db->tokens)
		{
			/* cppcheck-suppress nullPointer ; the macro's NULL is only in __typeof__ */
			TokenEntry *entry = dlist_container(TokenEntry, in_database, iter.cur);

			if (!entry->reused)
				continue;
			taken[n].key = entry->key;
			taken[n].revoke_family = entry->revoke_family;
			n++;
			entry->reused = false;
			entry->revoke_family = false;
			if (entry->used_at == 0)
				remove_token(db, entry, false);
		}
		database_release_if_idle(db);
	}
	LWLockRelease(shared->lock);
	*count = n;
	return taken;
}

void
use_table_forget(const UseKey *key, TimestampTz up_to)
{
	TokenEntry *entry;

	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	entry = hash_search(tokens, key, HASH_FIND, NULL);
	/* A later use came in meanwhile: keep it for the next round. */
	if (entry != NULL && entry->used_at <= up_to)
	{
		entry->used_at = 0;
		if (!entry->reused)
		{
			DatabaseEntry *db = database_entry(key->dboid, false);

			remove_token(db, entry, false);
			database_release_if_idle(db);
		}
	}
	LWLockRelease(shared->lock);
}

void
use_table_forget_all(Oid dboid, Oid nspoid)
{
	DatabaseEntry *db;
	dlist_mutable_iter iter;

	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	db = database_entry(dboid, false);
	if (db != NULL)
	{
		dlist_foreach_modify(iter, &db->tokens)
		{
			/* cppcheck-suppress nullPointer ; the macro's NULL is only in __typeof__ */
			TokenEntry *entry = dlist_container(TokenEntry, in_database, iter.cur);

			if (!OidIsValid(nspoid) || entry->key.nspoid == nspoid)
				remove_token(db, entry, false);
		}
		/* A database that is gone has nothing to remember either. */
		if (!OidIsValid(nspoid) && !db->flusher_running)
			hash_search(databases, &dboid, HASH_REMOVE, NULL);
		else
			database_release_if_idle(db);
	}
	LWLockRelease(shared->lock);
}

void
use_table_count(UsesCounter counter, int64 n)
{
	SpinLockAcquire(&shared->mutex);
	switch (counter)
	{
		case USES_FLUSHED:
			shared->flushed += n;
			break;
		case USES_FORWARDED:
			shared->forwarded += n;
			break;
		case USES_RECEIVED:
			shared->received += n;
			break;
	}
	SpinLockRelease(&shared->mutex);
}

/* Notes an error for the database (lock held exclusively) and for the server. */
static void
note_error(DatabaseEntry *db, const char *message, TimestampTz now)
{
	if (db != NULL)
	{
		db->last_error_at = now;
		strlcpy(db->last_error, message, sizeof(db->last_error));
	}
	SpinLockAcquire(&shared->mutex);
	shared->last_error_at = now;
	strlcpy(shared->last_error, message, sizeof(shared->last_error));
	SpinLockRelease(&shared->mutex);
}

void
use_table_note_error(Oid dboid, const char *message)
{
	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	note_error(OidIsValid(dboid) ? database_entry(dboid, false) : NULL, message,
			   GetCurrentTimestamp());
	LWLockRelease(shared->lock);
}

void
use_table_flusher_started(Oid dboid)
{
	DatabaseEntry *db;

	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	db = database_entry(dboid, true);
	if (db != NULL)
		db->flusher_running = true;
	LWLockRelease(shared->lock);
}

/* Records a failure (lock held exclusively): the next attempt waits, longer each time. */
static void
database_failed(DatabaseEntry *db, const char *message)
{
	TimestampTz now = GetCurrentTimestamp();
	long delay = (long) api_tokens_flush_interval * 1000L;

	db->flusher_running = false;
	db->failures++;
	for (int i = 0; i < db->failures && delay < MAX_RETRY_DELAY_MS; i++)
		delay *= 2;
	db->retry_at = TimestampTzPlusMilliseconds(now, Min(delay, MAX_RETRY_DELAY_MS));
	note_error(db, message, now);
}

bool
use_table_flusher_stopped(Oid dboid)
{
	DatabaseEntry *db;
	bool unfinished;

	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	db = database_entry(dboid, false);
	unfinished = db != NULL && db->flusher_running;
	if (unfinished)
		database_failed(db, psprintf("the flusher of database %u stopped before it finished "
									 "(the server log says why)",
									 dboid));
	LWLockRelease(shared->lock);
	return unfinished;
}

void
use_table_database_failed(Oid dboid, const char *message)
{
	DatabaseEntry *db;

	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	db = database_entry(dboid, true);
	if (db != NULL)
		database_failed(db, message);
	else
		note_error(NULL, message, GetCurrentTimestamp());
	LWLockRelease(shared->lock);
}

void
use_table_flusher_finished(Oid dboid, const char *error)
{
	DatabaseEntry *db;
	TimestampTz now = GetCurrentTimestamp();

	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	db = database_entry(dboid, true);
	if (db != NULL && error != NULL)
		database_failed(db, error);
	else if (db != NULL)
	{
		db->flusher_running = false;
		db->failures = 0;
		db->retry_at = 0;
		db->last_flush = now;
		database_release_if_idle(db);
	}
	if (error == NULL)
	{
		SpinLockAcquire(&shared->mutex);
		shared->last_flush = now;
		SpinLockRelease(&shared->mutex);
	}
	LWLockRelease(shared->lock);
}

void
use_table_note_credits(Oid dboid)
{
	DatabaseEntry *db;
	bool already;

	/*
	 * Already noted (until the flusher takes it, every flush interval): a
	 * shared lock suffices to see it, so that spenders of many tokens do
	 * not queue for the exclusive one.
	 */
	if (IsUnderPostmaster)
	{
		LWLockAcquire(shared->lock, LW_SHARED);
		db = database_entry(dboid, false);
		already = db != NULL && db->credits_waiting;
		LWLockRelease(shared->lock);
		if (already)
			return;
	}

	/* The postmaster loading saved credits is alone: no lock to take. */
	if (IsUnderPostmaster)
		LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	db = database_entry(dboid, true);
	if (db != NULL)
		db->credits_waiting = true;
	if (IsUnderPostmaster)
		LWLockRelease(shared->lock);
}

bool
use_table_take_credits(Oid dboid)
{
	DatabaseEntry *db;
	bool waiting = false;

	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	db = database_entry(dboid, false);
	if (db != NULL)
	{
		waiting = db->credits_waiting;
		db->credits_waiting = false;
	}
	LWLockRelease(shared->lock);
	return waiting;
}

bool
use_table_stopped_in_order(void)
{
	return shared != NULL && shared->launcher_stopped;
}

bool
use_table_take_flush_request(void)
{
	return pg_atomic_exchange_u32(&shared->flush_requested, 0) != 0;
}

void
use_table_set_launcher(Latch *latch)
{
	SpinLockAcquire(&shared->mutex);
	shared->launcher = latch;
	shared->launcher_stopped = latch == NULL;
	SpinLockRelease(&shared->mutex);
}

/*
 * SQL: api_tokens_last_use_state() RETURNS TABLE (preloaded boolean,
 *		pending bigint, capacity integer, recorded bigint, dropped bigint,
 *		reuses_dropped bigint, flushed bigint, forwarded bigint,
 *		received bigint, last_flush timestamptz, last_error text,
 *		last_error_at timestamptz)
 * The cluster's counters since the server started.
 */
PG_FUNCTION_INFO_V1(api_tokens_last_use_state);
Datum
api_tokens_last_use_state(PG_FUNCTION_ARGS)
{
	TupleDesc desc;
	Datum values[12];
	bool nulls[12] = {false};
	UsesState copy;

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	values[0] = BoolGetDatum(shared != NULL);
	if (shared == NULL)
	{
		for (int i = 1; i < 12; i++)
			nulls[i] = true;
		PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(desc), values, nulls)));
	}
	LWLockAcquire(shared->lock, LW_SHARED);
	values[1] = Int64GetDatum(hash_get_num_entries(tokens));
	LWLockRelease(shared->lock);
	SpinLockAcquire(&shared->mutex);
	copy = *shared;
	SpinLockRelease(&shared->mutex);
	values[2] = Int32GetDatum(api_tokens_max_tracked_tokens);
	values[3] = Int64GetDatum((int64) pg_atomic_read_u64(&shared->recorded));
	values[4] = Int64GetDatum((int64) pg_atomic_read_u64(&shared->dropped));
	values[5] = Int64GetDatum((int64) pg_atomic_read_u64(&shared->reuses_dropped));
	values[6] = Int64GetDatum(copy.flushed);
	values[7] = Int64GetDatum(copy.forwarded);
	values[8] = Int64GetDatum(copy.received);
	values[9] = TimestampTzGetDatum(copy.last_flush);
	nulls[9] = copy.last_flush == 0;
	values[10] = CStringGetTextDatum(copy.last_error);
	values[11] = TimestampTzGetDatum(copy.last_error_at);
	nulls[10] = nulls[11] = copy.last_error_at == 0;
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(desc), values, nulls)));
}

/* A timestamp column that is NULL when never set. */
static void
put_timestamp(Datum *value, bool *isnull, TimestampTz ts)
{
	*value = TimestampTzGetDatum(ts);
	*isnull = ts == 0;
}

/*
 * SQL: api_tokens_last_use_databases() RETURNS TABLE (datid oid,
 *		pending bigint, reuses_pending bigint, dropped bigint,
 *		reuses_dropped bigint, failures integer, retry_at timestamptz,
 *		last_flush timestamptz, last_error text, last_error_at timestamptz)
 * One row per database the shared table holds something for, or remembers
 * a failure of; none when the library is not preloaded.
 */
PG_FUNCTION_INFO_V1(api_tokens_last_use_databases);
Datum
api_tokens_last_use_databases(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	HASH_SEQ_STATUS status;
	DatabaseEntry *db;
	DatabaseEntry *copies;
	int64 *uses;
	int64 *reuses;
	int n = 0;

	InitMaterializedSRF(fcinfo, 0);
	if (shared == NULL)
		return (Datum) 0;
	LWLockAcquire(shared->lock, LW_SHARED);
	copies = palloc(sizeof(DatabaseEntry) * (hash_get_num_entries(databases) + 1));
	uses = palloc0(sizeof(int64) * (hash_get_num_entries(databases) + 1));
	reuses = palloc0(sizeof(int64) * (hash_get_num_entries(databases) + 1));
	hash_seq_init(&status, databases);
	while ((db = hash_seq_search(&status)) != NULL)
	{
		dlist_iter iter;

		copies[n] = *db;
		dlist_foreach(iter, &db->tokens)
		{
			/* cppcheck-suppress nullPointer ; the macro's NULL is only in __typeof__ */
			TokenEntry *entry = dlist_container(TokenEntry, in_database, iter.cur);

			uses[n] += entry->used_at != 0 ? 1 : 0;
			reuses[n] += entry->reused ? 1 : 0;
		}
		n++;
	}
	LWLockRelease(shared->lock);

	for (int i = 0; i < n; i++)
	{
		Datum values[10];
		bool nulls[10] = {false};

		values[0] = ObjectIdGetDatum(copies[i].dboid);
		values[1] = Int64GetDatum(uses[i]);
		values[2] = Int64GetDatum(reuses[i]);
		values[3] = Int64GetDatum(copies[i].dropped);
		values[4] = Int64GetDatum(copies[i].reuses_dropped);
		values[5] = Int32GetDatum(copies[i].failures);
		put_timestamp(&values[6], &nulls[6], copies[i].retry_at);
		put_timestamp(&values[7], &nulls[7], copies[i].last_flush);
		values[8] = CStringGetTextDatum(copies[i].last_error);
		put_timestamp(&values[9], &nulls[9], copies[i].last_error_at);
		nulls[8] = nulls[9];
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
