/*
 * limit_rows.h
 *		Rows of api_token_limits (since 1.2): a token's rate limit, usage
 *		credits and address allowlist, read, set and spent by OID.
 */
#ifndef API_TOKENS_LIMIT_ROWS_H
#define API_TOKENS_LIMIT_ROWS_H

#include "postgres.h"

#include "utils/array.h"
#include "utils/snapshot.h"
#include "utils/timestamp.h"

#include "tables/catalog.h"
#include "tables/row_hint.h"

/* A token's credits as its row holds them. */
typedef struct CreditsRow
{
	int64 remaining;
	bool has_refill;
	int64 refill;			 /* the balance after each refill */
	int64 refill_every_us;	 /* > 0 when has_refill */
	TimestampTz refilled_at; /* the last refill (or when the credits were set) */
	int64 version;			 /* changes whenever the credits are set */
} CreditsRow;

/* A token's limits. */
typedef struct TokenLimits
{
	bool has_rate;
	int32 rate_limit;	  /* validations per window, > 0 */
	int64 rate_window_us; /* > 0 */
	bool has_credits;
	CreditsRow credits;
	ArrayType *allowed_addresses; /* cidr[]; NULL: every address */
	/*
	 * A value the table's own checks forbid (its owner may have dropped
	 * them): the token is refused rather than let through unlimited.
	 */
	bool invalid;
} TokenLimits;

/*
 * False while no token can have limits (the table's unique index has never
 * held an entry): read without a probe, most databases stop here.
 */
extern bool limit_rows_may_exist(const ExtTables *tables);

/*
 * The limits of token_id, if it has a row (false otherwise, and fast when
 * none has), as snapshot (kept alive by the caller) sees them.  hint, when
 * not NULL, is where to look first: where a previous read found the row,
 * or cleared.  A row found there is the token's only if it is the version
 * this snapshot sees and holds this token_id (the unique index allows no
 * other); otherwise the index is probed.  On return, hint is where the row
 * was found (cleared if none).
 */
extern bool limit_rows_read(const ExtTables *tables, Datum token_id, Snapshot snapshot,
							RowHint *hint, TokenLimits *limits);

/*
 * Applies the refills due by now to remaining and refilled_at: a refill
 * replaces the balance.  True if one was due.
 */
extern bool limit_rows_refill(const CreditsRow *row, TimestampTz now, int64 *remaining,
							  TimestampTz *refilled_at);

/*
 * Spends cost credits of token_id in the current transaction (the path
 * without shared memory): the row is locked, as an UPDATE would, so
 * concurrent spenders wait for each other and never overspend.  False
 * (and nothing spent) if fewer than cost remain; *remaining is what is left,
 * *refilled_at the last refill.
 */
extern bool limit_rows_spend(const ExtTables *tables, Datum token_id, int32 cost, TimestampTz now,
							 int64 *remaining, TimestampTz *refilled_at);

/* A balance counted in shared memory, to be written to the token's row. */
typedef struct CreditsWrite
{
	Datum token_id;
	int64 version; /* the credits version it was counted from */
	int64 remaining;
	TimestampTz refilled_at;
	RowHint hint; /* where to look first, as for limit_rows_read */
} CreditsWrite;

/*
 * Writes balances to their rows through one opening of the table (one
 * executor state for them all).  A row whose credits were set again since
 * (another version), or that is gone, keeps what the setter wrote.
 * done[i] is false only when the row was locked by another transaction:
 * try later.
 */
extern void limit_rows_write_credits(const ExtTables *tables, const CreditsWrite *writes, int n,
									 bool *done);

/* What a setter changes; the other columns of the row stay. */
typedef enum LimitKind
{
	LIMIT_RATE,
	LIMIT_CREDITS,
	LIMIT_ADDRESSES
} LimitKind;

typedef struct LimitChange
{
	LimitKind kind;
	bool remove;	  /* NULL was given: the limit goes */
	int32 rate_limit; /* LIMIT_RATE */
	Datum rate_window;
	int64 credits; /* LIMIT_CREDITS */
	bool has_refill;
	int64 refill;
	Datum refill_every;
	Datum addresses; /* LIMIT_ADDRESSES: cidr[] */
} LimitChange;

/*
 * Changes a limit of token_id, whose api_tokens row the caller has locked;
 * a row left with no limit is deleted.
 */
extern void limit_rows_set(const ExtTables *tables, Datum token_id, const LimitChange *change);

/*
 * The balance of credits as counted: given the locked row and its
 * remaining and refilled_at, sets them to what is left now.
 */
typedef void (*LimitBalance)(const CreditsRow *row, int64 *remaining, TimestampTz *refilled_at,
							 void *arg);

/*
 * Gives new_id the limits of old_id (a rotation): the same rate limit,
 * refill and allowlist, and old_id's credits (as balance counts them, from
 * the row once locked), which old_id loses: in its grace period it has
 * none left, so the two never spend more than there was.  Nothing if
 * old_id has no limits.
 */
extern void limit_rows_carry(const ExtTables *tables, Datum old_id, Datum new_id,
							 LimitBalance balance, void *arg);

/*
 * Deletes the limits of tokens that are gone (gone(token_id, arg) is true):
 * a token deleted leaves its row behind (no foreign key ties the table to
 * api_tokens, which may then be dropped and restored alone), harmless since
 * no new token gets its id, until a purge calls this.  Returns how many.
 */
typedef bool (*LimitTokenGone)(Datum token_id, void *arg);
extern int limit_rows_forget(const ExtTables *tables, LimitTokenGone gone, void *arg);

/* Microseconds of an interval limit (30-day months), or -1 if not positive. */
extern int64 limit_interval_us(Datum interval);

#endif /* API_TOKENS_LIMIT_ROWS_H */
