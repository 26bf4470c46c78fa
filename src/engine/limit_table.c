/*
 * limit_table.c
 *		The shared table of limited tokens: a rate window and a credit
 *		balance per token, under one LWLock (see limit_table.h).
 *
 * Counting takes the lock in shared mode and the entry's spinlock; adding
 * a token takes it exclusively.  The table holds api_tokens.max_limited_tokens
 * entries.  When it is full, entries whose window has ended and whose
 * credits are written are swept out (at most every 100 ms); a token that
 * still finds no room is refused, not let through, and counted.
 *
 * A clean shutdown saves the credit balances to
 * pg_stat/api_tokens_limits.dat, and the next start loads them; the file
 * is read as untrusted data (version and entry size must match, a balance
 * is never negative).  Rate windows start afresh after a restart.
 */
#include "postgres.h"

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
#include "utils/timestamp.h"

#include "engine/limit_table.h"
#include "engine/saved_file.h"
#include "settings.h"

#define LIMITS_FILE PGSTAT_STAT_PERMANENT_DIRECTORY "/api_tokens_limits.dat"
#define LIMITS_FILE_MAGIC 0x6170746c /* "aptl" */
#define LIMITS_FILE_VERSION 1

/* The least time between two sweeps of a full table. */
#define SWEEP_INTERVAL_US (100 * 1000)

typedef struct LimitEntry
{
	UseKey key;
	slock_t mutex; /* protects the fields below */
	/* Where the token's limits row was last found (see limit_rows_read). */
	RowHint hint;
	/* The rate window. */
	int64 window_us;
	TimestampTz window_start;
	int32 count;
	/* The credits, once read from the row. */
	bool credits_known;
	bool unwritten; /* spent (or refilled) since the last write */
	int64 version;
	int64 remaining;
	TimestampTz refilled_at;
	uint64 changes;
} LimitEntry;

typedef struct LimitTableState
{
	LWLock *lock;
	pg_atomic_uint64 refused; /* validations refused for want of room */
	pg_atomic_uint64 last_sweep;
} LimitTableState;

/* The credits of a token as saved in the file: only those not written yet. */
typedef struct SavedCredits
{
	UseKey key;
	int64 version;
	int64 remaining;
	TimestampTz refilled_at;
} SavedCredits;

static LimitTableState *state = NULL;
static HTAB *entries = NULL;

void
limit_table_shmem_request(void)
{
	RequestAddinShmemSpace(
		add_size(MAXALIGN(sizeof(LimitTableState)),
				 hash_estimate_size(api_tokens_max_limited_tokens, sizeof(LimitEntry))));
	RequestNamedLWLockTranche("api_tokens limits", 1);
}

/* True if the entry can go: its window has ended and its credits are written. */
static bool
evictable(LimitEntry *entry, TimestampTz now)
{
	bool result;

	SpinLockAcquire(&entry->mutex);
	result = !entry->unwritten &&
			 (entry->window_us <= 0 || now >= entry->window_start + entry->window_us);
	SpinLockRelease(&entry->mutex);
	return result;
}

/* Removes what can go from a full table (exclusive lock); how many. */
static int
sweep(TimestampTz now)
{
	HASH_SEQ_STATUS status;
	LimitEntry *entry;
	int removed = 0;
	uint64 last = pg_atomic_read_u64(&state->last_sweep);

	if ((uint64) now < last + SWEEP_INTERVAL_US)
		return 0;
	pg_atomic_write_u64(&state->last_sweep, (uint64) now);
	hash_seq_init(&status, entries);
	while ((entry = hash_seq_search(&status)) != NULL)
		if (evictable(entry, now))
		{
			hash_search(entries, &entry->key, HASH_REMOVE, NULL);
			removed++;
		}
	return removed;
}

/* The token's entry, added if missing and room can be found; NULL if none. */
static LimitEntry *
find_entry(const UseKey *key, TimestampTz now)
{
	LimitEntry *entry;
	bool found;

	LWLockAcquire(state->lock, LW_SHARED);
	entry = hash_search(entries, key, HASH_FIND, NULL);
	if (entry != NULL)
		return entry; /* the caller releases the lock */
	LWLockRelease(state->lock);

	LWLockAcquire(state->lock, LW_EXCLUSIVE);
	entry = hash_search(entries, key, HASH_FIND, NULL);
	if (entry != NULL)
		return entry;
	if (hash_get_num_entries(entries) >= api_tokens_max_limited_tokens)
		(void) sweep(now);
	entry = hash_get_num_entries(entries) < api_tokens_max_limited_tokens
				? hash_search(entries, key, HASH_ENTER_NULL, &found)
				: NULL;
	if (entry == NULL)
	{
		LWLockRelease(state->lock);
		pg_atomic_fetch_add_u64(&state->refused, 1);
		return NULL;
	}
	if (!found)
	{
		memset((char *) entry + sizeof(UseKey), 0, sizeof(LimitEntry) - sizeof(UseKey));
		SpinLockInit(&entry->mutex);
		row_hint_clear(&entry->hint);
	}
	return entry;
}

void
limit_table_row_hint(const UseKey *key, RowHint *hint)
{
	LimitEntry *entry;

	row_hint_clear(hint);
	LWLockAcquire(state->lock, LW_SHARED);
	entry = hash_search(entries, key, HASH_FIND, NULL);
	if (entry != NULL)
	{
		SpinLockAcquire(&entry->mutex);
		*hint = entry->hint;
		SpinLockRelease(&entry->mutex);
	}
	LWLockRelease(state->lock);
}

void
limit_table_note_row(const UseKey *key, const RowHint *hint)
{
	LimitEntry *entry;

	LWLockAcquire(state->lock, LW_SHARED);
	entry = hash_search(entries, key, HASH_FIND, NULL);
	if (entry != NULL)
	{
		SpinLockAcquire(&entry->mutex);
		entry->hint = *hint;
		SpinLockRelease(&entry->mutex);
	}
	LWLockRelease(state->lock);
}

LimitOutcome
limit_table_count_request(const UseKey *key, int32 limit, int64 window_us, TimestampTz now,
						  int64 *retry_after_us)
{
	LimitEntry *entry = find_entry(key, now);
	TimestampTz start = now - now % window_us;
	LimitOutcome outcome = LIMIT_ALLOWED;

	if (entry == NULL)
	{
		*retry_after_us = USECS_PER_SEC;
		return LIMIT_TABLE_FULL;
	}
	SpinLockAcquire(&entry->mutex);
	if (entry->window_us != window_us || entry->window_start != start)
	{
		entry->window_us = window_us;
		entry->window_start = start;
		entry->count = 0;
	}
	if (entry->count < limit)
		entry->count++;
	else
	{
		outcome = LIMIT_EXCEEDED;
		*retry_after_us = start + window_us - now;
	}
	SpinLockRelease(&entry->mutex);
	LWLockRelease(state->lock);
	return outcome;
}

LimitOutcome
limit_table_spend(const UseKey *key, const CreditsRow *row, int32 cost, TimestampTz now,
				  int64 *remaining, TimestampTz *refilled_at)
{
	LimitEntry *entry = find_entry(key, now);
	LimitOutcome outcome = LIMIT_ALLOWED;
	bool note = false;

	if (entry == NULL)
	{
		*remaining = 0;
		return LIMIT_TABLE_FULL;
	}
	SpinLockAcquire(&entry->mutex);
	/* First seen, or set again since: the row's balance is the balance. */
	if (!entry->credits_known || entry->version != row->version)
	{
		entry->credits_known = true;
		entry->unwritten = false;
		entry->version = row->version;
		entry->remaining = row->remaining;
		entry->refilled_at = row->refilled_at;
	}
	if (limit_rows_refill(row, now, &entry->remaining, &entry->refilled_at))
	{
		note = !entry->unwritten;
		entry->unwritten = true;
		entry->changes++;
	}
	if (entry->remaining >= cost)
	{
		entry->remaining -= cost;
		if (cost > 0)
		{
			note = note || !entry->unwritten;
			entry->unwritten = true;
			entry->changes++;
		}
	}
	else
		outcome = LIMIT_EXCEEDED;
	*remaining = entry->remaining;
	*refilled_at = entry->refilled_at;
	SpinLockRelease(&entry->mutex);
	LWLockRelease(state->lock);
	/* The first change since the last write: the database's flusher has work. */
	if (note)
		use_table_note_credits(key->dboid);
	return outcome;
}

bool
limit_table_balance(const UseKey *key, const CreditsRow *row, TimestampTz now, int64 *remaining,
					TimestampTz *refilled_at)
{
	LimitEntry *entry;
	bool known = false;

	LWLockAcquire(state->lock, LW_SHARED);
	entry = hash_search(entries, key, HASH_FIND, NULL);
	if (entry != NULL)
	{
		SpinLockAcquire(&entry->mutex);
		known = entry->credits_known && entry->version == row->version;
		if (known)
		{
			*remaining = entry->remaining;
			*refilled_at = entry->refilled_at;
		}
		SpinLockRelease(&entry->mutex);
	}
	LWLockRelease(state->lock);
	if (known)
		(void) limit_rows_refill(row, now, remaining, refilled_at);
	return known;
}

UnwrittenCredits *
limit_table_unwritten(Oid dboid, int *count)
{
	HASH_SEQ_STATUS status;
	LimitEntry *entry;
	UnwrittenCredits *out;
	int n = 0;

	LWLockAcquire(state->lock, LW_SHARED);
	out = palloc(sizeof(UnwrittenCredits) * (hash_get_num_entries(entries) + 1));
	hash_seq_init(&status, entries);
	while ((entry = hash_seq_search(&status)) != NULL)
	{
		if (entry->key.dboid != dboid)
			continue;
		SpinLockAcquire(&entry->mutex);
		if (entry->unwritten)
		{
			out[n].key = entry->key;
			out[n].version = entry->version;
			out[n].remaining = entry->remaining;
			out[n].refilled_at = entry->refilled_at;
			out[n].changes = entry->changes;
			out[n].hint = entry->hint;
			n++;
		}
		SpinLockRelease(&entry->mutex);
	}
	LWLockRelease(state->lock);
	*count = n;
	return out;
}

void
limit_table_written(const UnwrittenCredits *credits)
{
	LimitEntry *entry;

	LWLockAcquire(state->lock, LW_SHARED);
	entry = hash_search(entries, &credits->key, HASH_FIND, NULL);
	if (entry != NULL)
	{
		SpinLockAcquire(&entry->mutex);
		if (entry->version == credits->version && entry->changes == credits->changes)
			entry->unwritten = false;
		SpinLockRelease(&entry->mutex);
	}
	LWLockRelease(state->lock);
}

/* The file a clean shutdown keeps the balances in. */
static SavedFile
limits_file(void)
{
	SavedFile file = {.path = LIMITS_FILE,
					  .what = "credits",
					  .magic = LIMITS_FILE_MAGIC,
					  .version = LIMITS_FILE_VERSION,
					  .entry_size = sizeof(SavedCredits)};

	return file;
}

/* Saves the credit balances at a clean shutdown of the postmaster. */
static void
save_credits(int code, Datum arg)
{
	SavedFile file = limits_file();
	HASH_SEQ_STATUS status;
	LimitEntry *entry;

	/* After a crash or an immediate shutdown the table may be half-changed: not kept. */
	if (code != 0 || state == NULL || !use_table_stopped_in_order())
		return;
	saved_file_create(&file, (uint32) hash_get_num_entries(entries));
	hash_seq_init(&status, entries);
	while ((entry = hash_seq_search(&status)) != NULL)
	{
		SavedCredits saved;

		/* Only what was not written matters: the rows hold the rest. */
		if (!entry->credits_known || !entry->unwritten)
			continue;
		memset(&saved, 0, sizeof(saved));
		saved.key = entry->key;
		saved.version = entry->version;
		saved.remaining = entry->remaining;
		saved.refilled_at = entry->refilled_at;
		if (!saved_file_put(&file, &saved))
		{
			hash_seq_term(&status);
			break;
		}
	}
	saved_file_finish(&file);
}

/* Loads what the last clean shutdown saved, once, then removes the file. */
static void
load_credits(void)
{
	SavedFile file = limits_file();
	SavedCredits saved;
	TimestampTz now = GetCurrentTimestamp();
	uint32 count;

	if (!saved_file_open(&file, &count))
		return;
	for (uint32 i = 0; i < count && saved_file_get(&file, &saved); i++)
	{
		LimitEntry *entry;
		bool found;

		if (saved.remaining < 0)
			continue;
		entry = hash_search(entries, &saved.key, HASH_ENTER_NULL, &found);
		if (entry == NULL)
			break;
		memset((char *) entry + sizeof(UseKey), 0, sizeof(LimitEntry) - sizeof(UseKey));
		SpinLockInit(&entry->mutex);
		row_hint_clear(&entry->hint);
		entry->credits_known = true;
		entry->unwritten = true;
		entry->version = saved.version;
		entry->remaining = saved.remaining;
		entry->refilled_at = Min(saved.refilled_at, now);
		use_table_note_credits(saved.key.dboid);
	}
	saved_file_close(&file);
}

void
limit_table_shmem_startup(void)
{
	HASHCTL info;
	bool found;

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	state = ShmemInitStruct("api_tokens limits", sizeof(LimitTableState), &found);
	if (!found)
	{
		state->lock = &(GetNamedLWLockTranche("api_tokens limits"))->lock;
		pg_atomic_init_u64(&state->refused, 0);
		pg_atomic_init_u64(&state->last_sweep, 0);
	}
	info.keysize = sizeof(UseKey);
	info.entrysize = sizeof(LimitEntry);
	entries = ShmemInitHash("api_tokens limited tokens", api_tokens_max_limited_tokens,
							api_tokens_max_limited_tokens, &info, HASH_ELEM | HASH_BLOBS);
	LWLockRelease(AddinShmemInitLock);

	/* In the postmaster: load what the last shutdown saved, save at exit. */
	if (!IsUnderPostmaster)
	{
		if (!found)
			load_credits();
		on_shmem_exit(save_credits, (Datum) 0);
	}
}

/*
 * SQL: api_tokens_limit_state(OUT preloaded boolean, OUT tracked bigint,
 *		OUT capacity integer, OUT credits_unwritten bigint, OUT refused bigint)
 */
PG_FUNCTION_INFO_V1(api_tokens_limit_state);
Datum
api_tokens_limit_state(PG_FUNCTION_ARGS)
{
	TupleDesc desc;
	Datum values[5] = {0};
	bool nulls[5] = {false, false, false, false, false};

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	values[0] = BoolGetDatum(state != NULL);
	if (state != NULL)
	{
		HASH_SEQ_STATUS status;
		LimitEntry *entry;
		int64 unwritten = 0;

		LWLockAcquire(state->lock, LW_SHARED);
		values[1] = Int64GetDatum(hash_get_num_entries(entries));
		hash_seq_init(&status, entries);
		while ((entry = hash_seq_search(&status)) != NULL)
		{
			SpinLockAcquire(&entry->mutex);
			unwritten += entry->unwritten ? 1 : 0;
			SpinLockRelease(&entry->mutex);
		}
		LWLockRelease(state->lock);
		values[2] = Int32GetDatum(api_tokens_max_limited_tokens);
		values[3] = Int64GetDatum(unwritten);
		values[4] = Int64GetDatum((int64) pg_atomic_read_u64(&state->refused));
	}
	else
		nulls[1] = nulls[2] = nulls[3] = nulls[4] = true;
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(desc, values, nulls)));
}
