/*
 * limit_table.h
 *		Rate windows and usage credits of limited tokens, in shared memory
 *		(only with shared_preload_libraries = 'api_tokens').
 *
 * Counting here instead of in the token's row is what keeps a limited
 * validation from writing on every request: a rate window is a counter
 * under a spinlock, a spend a subtraction.  Credits spent are written to
 * api_token_limits by the database's flusher (engine/worker.c) every
 * api_tokens.flush_interval, kept across a clean restart in
 * pg_stat/api_tokens_limits.dat, and lost after a crash for what was spent
 * since the last write (the token then has that many credits more).
 */
#ifndef API_TOKENS_LIMIT_TABLE_H
#define API_TOKENS_LIMIT_TABLE_H

#include "postgres.h"

#include "engine/use_table.h"
#include "tables/limit_rows.h"

/* Reserves and creates the shared table; called from the preload hooks. */
extern void limit_table_shmem_request(void);
extern void limit_table_shmem_startup(void);

/*
 * Where the token's api_token_limits row was last found (tables/row_hint.h),
 * or cleared if not known.  Only a hint: limit_rows_read checks what it
 * finds there, so a stale hint costs an index probe, never a wrong answer.
 * Kept with the token's rate window and credits, so only for tokens that
 * have either.
 */
extern void limit_table_row_hint(const UseKey *key, RowHint *hint);
extern void limit_table_note_row(const UseKey *key, const RowHint *hint);

/* The outcome of counting a validation against a limit. */
typedef enum LimitOutcome
{
	LIMIT_ALLOWED,
	LIMIT_EXCEEDED,	 /* over the rate limit, or too few credits */
	LIMIT_TABLE_FULL /* no room for the token: refused, and counted */
} LimitOutcome;

/*
 * Counts a validation in the token's current window (fixed windows aligned
 * on multiples of window_us): at most limit per window.  When exceeded,
 * *retry_after_us is the time until the window ends.
 */
extern LimitOutcome limit_table_count_request(const UseKey *key, int32 limit, int64 window_us,
											  TimestampTz now, int64 *retry_after_us);

/*
 * Spends cost credits of the token whose row is row: the balance comes from
 * the row the first time, and again whenever its version changes (set
 * again).  *remaining is what is left (or what there is, when too few),
 * *refilled_at the last refill counted.
 */
extern LimitOutcome limit_table_spend(const UseKey *key, const CreditsRow *row, int32 cost,
									  TimestampTz now, int64 *remaining, TimestampTz *refilled_at);

/*
 * The token's balance as counted (refills applied), without spending: false
 * (and nothing set) if shared memory holds no balance for this version.
 */
extern bool limit_table_balance(const UseKey *key, const CreditsRow *row, TimestampTz now,
								int64 *remaining, TimestampTz *refilled_at);

/* Credits spent in shared memory and not yet written, for the flusher. */
typedef struct UnwrittenCredits
{
	UseKey key;
	int64 version;
	int64 remaining;
	TimestampTz refilled_at;
	uint64 changes; /* the entry's change count when read */
	RowHint hint;	/* where the row was last found */
} UnwrittenCredits;

/* The unwritten credits of a database (palloc'd), and how many. */
extern UnwrittenCredits *limit_table_unwritten(Oid dboid, int *count);

/* Marks credits written, unless they changed since they were read. */
extern void limit_table_written(const UnwrittenCredits *credits);

#endif /* API_TOKENS_LIMIT_TABLE_H */
