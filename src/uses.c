/*
 * uses.c
 *		The shared table of recorded token uses.
 *
 * Validation records a use here instead of writing last_used_at in the
 * caller's transaction: a hash lookup under a shared lock and a spinlock
 * for the entry, or an exclusive lock to add one.  The table holds at most
 * api_tokens.max_tracked_tokens tokens; when it is full a new token's use
 * is dropped (counted, and the worker woken early), never waited for.
 *
 * A clean shutdown saves the table to pg_stat/api_tokens_uses.dat, and the
 * next start loads it (as pg_stat_statements does with its statistics), so
 * that nothing recorded is lost; after a crash the file is not written and
 * what was recorded since the last flush is lost.
 */
#include "postgres.h"

#include <unistd.h>

#include "fmgr.h"
#include "funcapi.h"
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

#include "settings.h"
#include "uses.h"

#define USES_FILE PGSTAT_STAT_PERMANENT_DIRECTORY "/api_tokens_uses.dat"
#define USES_FILE_MAGIC 0x61707475 /* "aptu" */

typedef struct UseEntry
{
	UseKey key;
	slock_t mutex; /* protects at */
	TimestampTz at;
} UseEntry;

typedef struct UsesState
{
	LWLock *lock; /* the hash table's structure */
	pg_atomic_uint64 recorded;
	pg_atomic_uint64 dropped;
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

static UsesState *shared = NULL;
static HTAB *uses = NULL;

static Size
shmem_size(void)
{
	return add_size(MAXALIGN(sizeof(UsesState)),
					hash_estimate_size(api_tokens_max_tracked_tokens, sizeof(UseEntry)));
}

void
uses_shmem_request(void)
{
	RequestAddinShmemSpace(shmem_size());
	RequestNamedLWLockTranche("api_tokens", 1);
}

/* Saves the table at a clean shutdown of the postmaster. */
static void
save_uses(int code, Datum arg)
{
	FILE *file;
	HASH_SEQ_STATUS status;
	UseEntry *entry;
	uint32 header[2] = {USES_FILE_MAGIC, 0};

	/*
	 * A crash, or an immediate shutdown (which stops the launcher without
	 * running its exit callbacks): the table may be inconsistent, a backend
	 * may have been killed while changing it.  Do not keep it.
	 */
	if (code != 0 || shared == NULL || !shared->launcher_stopped)
		return;
	file = AllocateFile(USES_FILE ".tmp", PG_BINARY_W);
	if (file == NULL)
		goto error;
	header[1] = (uint32) hash_get_num_entries(uses);
	if (fwrite(header, sizeof(header), 1, file) != 1)
		goto error;
	hash_seq_init(&status, uses);
	while ((entry = hash_seq_search(&status)) != NULL)
	{
		PendingUse use = {entry->key, entry->at};

		if (fwrite(&use, sizeof(use), 1, file) != 1)
		{
			hash_seq_term(&status);
			goto error;
		}
	}
	if (FreeFile(file) != 0)
	{
		file = NULL;
		goto error;
	}
	(void) durable_rename(USES_FILE ".tmp", USES_FILE, LOG);
	return;

error:
	ereport(LOG, (errcode_for_file_access(),
				  errmsg("could not save api_tokens' recorded uses to \"%s\": %m", USES_FILE)));
	if (file)
		FreeFile(file);
	unlink(USES_FILE ".tmp");
}

/* Loads what the last clean shutdown saved, once, then removes the file. */
static void
load_saved_uses(void)
{
	FILE *file = AllocateFile(USES_FILE, PG_BINARY_R);
	uint32 header[2];
	PendingUse use;

	if (file == NULL)
		return;
	if (fread(header, sizeof(header), 1, file) == 1 && header[0] == USES_FILE_MAGIC)
	{
		for (uint32 i = 0; i < header[1] && fread(&use, sizeof(use), 1, file) == 1; i++)
		{
			bool found;
			UseEntry *entry;

			if (hash_get_num_entries(uses) >= api_tokens_max_tracked_tokens)
				break;
			entry = hash_search(uses, &use.key, HASH_ENTER_NULL, &found);
			if (entry == NULL)
				break;
			if (!found)
				SpinLockInit(&entry->mutex);
			entry->at = use.at;
		}
	}
	FreeFile(file);
	unlink(USES_FILE);
}

void
uses_shmem_startup(void)
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
		pg_atomic_init_u32(&shared->flush_requested, 0);
		SpinLockInit(&shared->mutex);
	}
	info.keysize = sizeof(UseKey);
	info.entrysize = sizeof(UseEntry);
	uses = ShmemInitHash("api_tokens uses", api_tokens_max_tracked_tokens,
						 api_tokens_max_tracked_tokens, &info, HASH_ELEM | HASH_BLOBS);
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
uses_enabled(void)
{
	return shared != NULL;
}

void
uses_record(const UseKey *key, TimestampTz at)
{
	UseEntry *entry;
	bool found;
	Latch *launcher = NULL;

	pg_atomic_fetch_add_u64(&shared->recorded, 1);
	LWLockAcquire(shared->lock, LW_SHARED);
	entry = hash_search(uses, key, HASH_FIND, NULL);
	if (entry != NULL)
	{
		SpinLockAcquire(&entry->mutex);
		if (entry->at < at)
			entry->at = at;
		SpinLockRelease(&entry->mutex);
		LWLockRelease(shared->lock);
		return;
	}
	LWLockRelease(shared->lock);

	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	entry = hash_get_num_entries(uses) < api_tokens_max_tracked_tokens
				? hash_search(uses, key, HASH_ENTER_NULL, &found)
				: NULL;
	if (entry != NULL)
	{
		if (!found)
		{
			SpinLockInit(&entry->mutex);
			entry->at = at;
		}
		else if (entry->at < at)
			entry->at = at;
	}
	LWLockRelease(shared->lock);

	if (entry == NULL)
	{
		/* Full: drop the use, and have the worker make room now. */
		pg_atomic_fetch_add_u64(&shared->dropped, 1);
		pg_atomic_write_u32(&shared->flush_requested, 1);
		SpinLockAcquire(&shared->mutex);
		launcher = shared->launcher;
		SpinLockRelease(&shared->mutex);
		if (launcher)
			SetLatch(launcher);
	}
}

Oid *
uses_databases(int *count)
{
	HASH_SEQ_STATUS status;
	UseEntry *entry;
	Oid *dbs;
	int n = 0;

	LWLockAcquire(shared->lock, LW_SHARED);
	dbs = palloc(sizeof(Oid) * (hash_get_num_entries(uses) + 1));
	hash_seq_init(&status, uses);
	while ((entry = hash_seq_search(&status)) != NULL)
	{
		bool seen = false;

		for (int i = 0; i < n && !seen; i++)
			seen = dbs[i] == entry->key.dboid;
		if (!seen)
			dbs[n++] = entry->key.dboid;
	}
	LWLockRelease(shared->lock);
	*count = n;
	return dbs;
}

static int
compare_schema(const void *a, const void *b)
{
	Oid x = ((const PendingUse *) a)->key.nspoid;
	Oid y = ((const PendingUse *) b)->key.nspoid;

	return (x > y) - (x < y);
}

PendingUse *
uses_of_database(Oid dboid, int limit, int *count)
{
	HASH_SEQ_STATUS status;
	UseEntry *entry;
	PendingUse *pending = palloc(sizeof(PendingUse) * Max(limit, 1));
	int n = 0;

	LWLockAcquire(shared->lock, LW_SHARED);
	hash_seq_init(&status, uses);
	while ((entry = hash_seq_search(&status)) != NULL)
	{
		if (entry->key.dboid != dboid)
			continue;
		pending[n].key = entry->key;
		SpinLockAcquire(&entry->mutex);
		pending[n].at = entry->at;
		SpinLockRelease(&entry->mutex);
		if (++n == limit)
		{
			hash_seq_term(&status);
			break;
		}
	}
	LWLockRelease(shared->lock);
	/* Uses of one schema together: one table opened per schema, one batch forwarded. */
	qsort(pending, n, sizeof(PendingUse), compare_schema);
	*count = n;
	return pending;
}

void
uses_forget(const UseKey *key, TimestampTz up_to)
{
	UseEntry *entry;

	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	entry = hash_search(uses, key, HASH_FIND, NULL);
	/* A later use came in meanwhile: keep it for the next round. */
	if (entry != NULL && entry->at <= up_to)
		hash_search(uses, key, HASH_REMOVE, NULL);
	LWLockRelease(shared->lock);
}

void
uses_forget_all(Oid dboid, Oid nspoid)
{
	HASH_SEQ_STATUS status;
	UseEntry *entry;

	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	hash_seq_init(&status, uses);
	while ((entry = hash_seq_search(&status)) != NULL)
	{
		if (entry->key.dboid == dboid && (!OidIsValid(nspoid) || entry->key.nspoid == nspoid))
			hash_search(uses, &entry->key, HASH_REMOVE, NULL);
	}
	LWLockRelease(shared->lock);
}

void
uses_count(UsesCounter counter, int64 n)
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

void
uses_note_flush(void)
{
	TimestampTz current = GetCurrentTimestamp();

	SpinLockAcquire(&shared->mutex);
	shared->last_flush = current;
	SpinLockRelease(&shared->mutex);
}

void
uses_note_error(const char *message)
{
	TimestampTz current = GetCurrentTimestamp();

	SpinLockAcquire(&shared->mutex);
	shared->last_error_at = current;
	strlcpy(shared->last_error, message, sizeof(shared->last_error));
	SpinLockRelease(&shared->mutex);
}

bool
uses_take_flush_request(void)
{
	return pg_atomic_exchange_u32(&shared->flush_requested, 0) != 0;
}

void
uses_set_launcher(Latch *latch)
{
	SpinLockAcquire(&shared->mutex);
	shared->launcher = latch;
	shared->launcher_stopped = latch == NULL;
	SpinLockRelease(&shared->mutex);
}

/*
 * SQL: api_tokens_last_use_state() RETURNS TABLE (preloaded boolean,
 *		pending bigint, capacity integer, recorded bigint, dropped bigint,
 *		flushed bigint, forwarded bigint, received bigint,
 *		last_flush timestamptz, last_error text, last_error_at timestamptz)
 * The cluster's counters since the server started.
 */
PG_FUNCTION_INFO_V1(api_tokens_last_use_state);
Datum
api_tokens_last_use_state(PG_FUNCTION_ARGS)
{
	TupleDesc desc;
	Datum values[11];
	bool nulls[11] = {false};
	UsesState copy;

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	values[0] = BoolGetDatum(shared != NULL);
	if (shared == NULL)
	{
		for (int i = 1; i < 11; i++)
			nulls[i] = true;
		PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(desc), values, nulls)));
	}
	LWLockAcquire(shared->lock, LW_SHARED);
	values[1] = Int64GetDatum(hash_get_num_entries(uses));
	LWLockRelease(shared->lock);
	SpinLockAcquire(&shared->mutex);
	copy = *shared;
	SpinLockRelease(&shared->mutex);
	values[2] = Int32GetDatum(api_tokens_max_tracked_tokens);
	values[3] = Int64GetDatum((int64) pg_atomic_read_u64(&shared->recorded));
	values[4] = Int64GetDatum((int64) pg_atomic_read_u64(&shared->dropped));
	values[5] = Int64GetDatum(copy.flushed);
	values[6] = Int64GetDatum(copy.forwarded);
	values[7] = Int64GetDatum(copy.received);
	values[8] = TimestampTzGetDatum(copy.last_flush);
	nulls[8] = copy.last_flush == 0;
	values[9] = CStringGetTextDatum(copy.last_error);
	values[10] = TimestampTzGetDatum(copy.last_error_at);
	nulls[9] = nulls[10] = copy.last_error_at == 0;
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(desc), values, nulls)));
}
