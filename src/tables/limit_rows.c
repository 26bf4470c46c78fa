/*
 * limit_rows.c
 *		api_token_limits through row_access: reading a token's limits on
 *		every validation, setting them, spending credits in a row.
 *
 * Every value is read as untrusted: the table belongs to its owner, who
 * may have dropped its CHECK constraints.  A value they forbid makes the
 * limits invalid, and the token is refused rather than let through.
 *
 * Most databases limit no token at all: while the table's unique index has
 * never held an entry (its root is still unset), a validation reads only
 * that index's metapage instead of probing it.
 */
#include "postgres.h"

#include "access/nbtree.h"
#include "access/table.h"
#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "utils/array.h"
#include "utils/datetime.h"
#include "utils/fmgroids.h"

#include "tables/limit_rows.h"
#include "tables/row_access.h"

/*
 * The last index seen written: a btree root, once set, is never unset, so
 * this backend need not read that index's metapage again (after a TRUNCATE
 * it only probes an empty index).
 */
static Oid written_index = InvalidOid;

/* True while the btree index has never held an entry: no row can match. */
static bool
index_never_written(Oid indexoid)
{
	Relation index;
	Buffer buffer;
	bool empty;

	if (indexoid == written_index)
		return false;
	index = index_open(indexoid, AccessShareLock);
	buffer = ReadBuffer(index, BTREE_METAPAGE);
	LockBuffer(buffer, BUFFER_LOCK_SHARE);
	empty = BTPageGetMeta(BufferGetPage(buffer))->btm_root == P_NONE;
	UnlockReleaseBuffer(buffer);
	index_close(index, NoLock);
	if (!empty)
		written_index = indexoid;
	return empty;
}

bool
limit_rows_may_exist(const ExtTables *tables)
{
	return tables->has_limits && !index_never_written(tables->limits.by_token);
}

int64
limit_interval_us(Datum interval_datum)
{
	Interval *interval = DatumGetIntervalP(interval_datum);
	int64 days = (int64) interval->month * DAYS_PER_MONTH + interval->day;
	int64 us;

	/* Checked by the table and the setters; beyond about 290,000 years, refused. */
	if (days > PG_INT64_MAX / USECS_PER_DAY / 2 || days < -(PG_INT64_MAX / USECS_PER_DAY / 2))
		return -1;
	us = days * USECS_PER_DAY + interval->time;
	return us > 0 ? us : -1;
}

static int64
get_int8(RowAccess *ra, AttrNumber att, bool *isnull)
{
	Datum value = row_access_get(ra, att, isnull);

	return *isnull ? 0 : DatumGetInt64(value);
}

/* Reads the credits columns of the found row; false if it has none. */
static bool
read_credits(RowAccess *ra, const LimitsTable *t, CreditsRow *credits, bool *invalid)
{
	bool isnull;
	bool refill_null;
	bool every_null;
	Datum every;

	credits->remaining = get_int8(ra, t->att_credits, &isnull);
	if (isnull)
		return false;
	credits->version = get_int8(ra, t->att_credits_version, &isnull);
	credits->refill = get_int8(ra, t->att_credits_refill, &refill_null);
	every = row_access_get(ra, t->att_credits_refill_every, &every_null);
	credits->has_refill = !refill_null && !every_null;
	credits->refill_every_us = credits->has_refill ? limit_interval_us(every) : 0;
	if (!row_access_get_timestamptz(ra, t->att_credits_refilled_at, &credits->refilled_at))
		credits->refilled_at = 0;
	if (credits->remaining < 0 || refill_null != every_null ||
		(credits->has_refill && (credits->refill < 0 || credits->refill_every_us <= 0)))
		*invalid = true;
	return true;
}

/* Finds token_id's row, where *hint says if it is still there, else by the index. */
static bool
find_row(RowAccess *ra, const LimitsTable *t, Datum token_id, RowHint *hint)
{
	RowHint found_at;

	if (hint != NULL && row_hint_fetch(ra, hint) &&
		row_access_uuid_equals(ra, t->att_token_id, token_id))
		return true;
	if (row_hint_find(ra, t->by_token, F_UUID_EQ, InvalidOid, token_id, &found_at) &&
		row_access_uuid_equals(ra, t->att_token_id, token_id))
	{
		if (hint != NULL)
			*hint = found_at;
		return true;
	}
	if (hint != NULL)
		row_hint_clear(hint);
	return false;
}

bool
limit_rows_read(const ExtTables *tables, Datum token_id, Snapshot snapshot, RowHint *hint,
				TokenLimits *limits)
{
	const LimitsTable *t = &tables->limits;
	Relation rel;
	RowAccess ra;
	bool found;
	bool isnull;
	Datum value;

	memset(limits, 0, sizeof(*limits));
	if (!limit_rows_may_exist(tables))
	{
		if (hint != NULL)
			row_hint_clear(hint);
		return false;
	}
	rel = table_open(t->relid, AccessShareLock);
	row_access_begin_reading_at(&ra, rel, snapshot);
	found = find_row(&ra, t, token_id, hint);
	if (found)
	{
		bool window_null;
		Datum window;

		value = row_access_get(&ra, t->att_rate_limit, &isnull);
		window = row_access_get(&ra, t->att_rate_window, &window_null);
		limits->has_rate = !isnull || !window_null;
		if (limits->has_rate)
		{
			limits->rate_limit = isnull ? 0 : DatumGetInt32(value);
			limits->rate_window_us = window_null ? -1 : limit_interval_us(window);
			if (limits->rate_limit <= 0 || limits->rate_window_us <= 0)
				limits->invalid = true;
		}
		limits->has_credits = read_credits(&ra, t, &limits->credits, &limits->invalid);
		value = row_access_get(&ra, t->att_allowed_addresses, &isnull);
		if (!isnull)
			limits->allowed_addresses = DatumGetArrayTypePCopy(value);
	}
	row_access_end(&ra);
	/* Kept to the end of the transaction, as a statement would. */
	table_close(rel, NoLock);
	return found;
}

bool
limit_rows_refill(const CreditsRow *row, TimestampTz now, int64 *remaining,
				  TimestampTz *refilled_at)
{
	int64 periods;

	if (!row->has_refill || row->refill_every_us <= 0 || now < *refilled_at)
		return false;
	periods = (now - *refilled_at) / row->refill_every_us;
	if (periods == 0)
		return false;
	*remaining = row->refill;
	/* periods * every is at most now - refilled_at: no overflow. */
	*refilled_at += periods * row->refill_every_us;
	return true;
}

/* Opens the limits table for writing, positioned on token_id's row if found and locked. */
static Relation
open_for_write(const LimitsTable *t, RowAccess *ra)
{
	Relation rel = table_open(t->relid, RowExclusiveLock);

	row_access_begin(ra, rel, t->owner, true);
	return rel;
}

static void
close_after_write(RowAccess *ra, Relation rel)
{
	row_access_end(ra);
	table_close(rel, NoLock);
}

/* Replaces the credits columns of the locked row. */
static void
update_credits(RowAccess *ra, const LimitsTable *t, int64 remaining, TimestampTz refilled_at)
{
	AttrNumber columns[2] = {t->att_credits, t->att_credits_refilled_at};
	Datum values[2] = {Int64GetDatum(remaining), TimestampTzGetDatum(refilled_at)};
	bool nulls[2] = {false, refilled_at == 0};

	row_access_update(ra, 2, columns, values, nulls);
}

bool
limit_rows_spend(const ExtTables *tables, Datum token_id, int32 cost, TimestampTz now,
				 int64 *remaining, TimestampTz *refilled_at)
{
	const LimitsTable *t = &tables->limits;
	RowAccess ra;
	Relation rel = open_for_write(t, &ra);
	CreditsRow credits;
	bool invalid = false;
	bool spent = false;

	*remaining = 0;
	if (row_access_find(&ra, t->by_token, F_UUID_EQ, InvalidOid, token_id) &&
		row_access_lock_for_change(&ra) && row_access_uuid_equals(&ra, t->att_token_id, token_id) &&
		read_credits(&ra, t, &credits, &invalid) && !invalid)
	{
		bool refilled;

		*remaining = credits.remaining;
		*refilled_at = credits.refilled_at;
		refilled = limit_rows_refill(&credits, now, remaining, refilled_at);
		spent = *remaining >= cost;
		if (spent)
			*remaining -= cost;
		if (refilled || (spent && cost > 0))
			update_credits(&ra, t, *remaining, *refilled_at);
	}
	close_after_write(&ra, rel);
	return spent;
}

/* True if the found row has credits of this version. */
static bool
has_credits_version(RowAccess *ra, const LimitsTable *t, int64 version)
{
	bool version_null;
	bool credits_null;
	int64 have = get_int8(ra, t->att_credits_version, &version_null);

	(void) get_int8(ra, t->att_credits, &credits_null);
	return !version_null && !credits_null && have == version;
}

void
limit_rows_write_credits(const ExtTables *tables, const CreditsWrite *writes, int n, bool *done)
{
	const LimitsTable *t = &tables->limits;
	RowAccess ra;
	Relation rel = open_for_write(t, &ra);

	for (int i = 0; i < n; i++)
	{
		const CreditsWrite *w = &writes[i];
		RowHint hint = w->hint;

		CHECK_FOR_INTERRUPTS();
		done[i] = true;
		if (find_row(&ra, t, w->token_id, &hint))
		{
			RowLock lock = row_access_lock(&ra, LockWaitSkip);

			if (lock == ROW_BUSY)
				done[i] = false;
			/* Set again since (another version), or removed: the setter's balance stands. */
			else if (lock == ROW_LOCKED &&
					 row_access_uuid_equals(&ra, t->att_token_id, w->token_id) &&
					 has_credits_version(&ra, t, w->version))
				update_credits(&ra, t, w->remaining, w->refilled_at);
		}
	}
	close_after_write(&ra, rel);
}

/* The values of a new or changed row, column by column. */
typedef struct LimitColumns
{
	Datum values[8];
	bool nulls[8];
	AttrNumber atts[8];
	int n;
} LimitColumns;

static void
add_column(LimitColumns *c, AttrNumber att, Datum value, bool isnull)
{
	c->atts[c->n] = att;
	c->values[c->n] = value;
	c->nulls[c->n] = isnull;
	c->n++;
}

/* The columns a change sets; version is the new credits version. */
static void
changed_columns(const LimitsTable *t, const LimitChange *change, int64 version, LimitColumns *c)
{
	bool rm = change->remove;

	c->n = 0;
	switch (change->kind)
	{
		case LIMIT_RATE:
			add_column(c, t->att_rate_limit, Int32GetDatum(change->rate_limit), rm);
			add_column(c, t->att_rate_window, change->rate_window, rm);
			break;
		case LIMIT_CREDITS:
			add_column(c, t->att_credits, Int64GetDatum(change->credits), rm);
			add_column(c, t->att_credits_refill, Int64GetDatum(change->refill),
					   rm || !change->has_refill);
			add_column(c, t->att_credits_refill_every, change->refill_every,
					   rm || !change->has_refill);
			add_column(c, t->att_credits_refilled_at,
					   TimestampTzGetDatum(GetCurrentTransactionStartTimestamp()), rm);
			add_column(c, t->att_credits_version, Int64GetDatum(version), false);
			break;
		case LIMIT_ADDRESSES:
			add_column(c, t->att_allowed_addresses, change->addresses, rm);
			break;
	}
}

/* True if the locked row keeps a limit once change is applied. */
static bool
keeps_a_limit(RowAccess *ra, const LimitsTable *t, const LimitChange *change)
{
	bool isnull;
	bool rate;
	bool credits;
	bool addresses;

	(void) row_access_get(ra, t->att_rate_limit, &isnull);
	rate = !isnull;
	(void) row_access_get(ra, t->att_credits, &isnull);
	credits = !isnull;
	(void) row_access_get(ra, t->att_allowed_addresses, &isnull);
	addresses = !isnull;
	if (change->kind == LIMIT_RATE)
		rate = !change->remove;
	else if (change->kind == LIMIT_CREDITS)
		credits = !change->remove;
	else
		addresses = !change->remove;
	return rate || credits || addresses;
}

void
limit_rows_set(const ExtTables *tables, Datum token_id, const LimitChange *change)
{
	const LimitsTable *t = &tables->limits;
	RowAccess ra;
	Relation rel = open_for_write(t, &ra);
	/* A version never seen before for this token, even after its row was deleted. */
	int64 version = GetCurrentTimestamp();
	LimitColumns columns;

	if (row_access_find(&ra, t->by_token, F_UUID_EQ, InvalidOid, token_id) &&
		row_access_lock_for_change(&ra) && row_access_uuid_equals(&ra, t->att_token_id, token_id))
	{
		bool isnull;
		int64 old = get_int8(&ra, t->att_credits_version, &isnull);

		if (!isnull && old >= version)
			version = old + 1;
		if (!keeps_a_limit(&ra, t, change))
			row_access_delete(&ra);
		else
		{
			changed_columns(t, change, version, &columns);
			row_access_update(&ra, columns.n, columns.atts, columns.values, columns.nulls);
		}
	}
	else if (!change->remove)
	{
		TupleTableSlot *slot = row_access_new_row(&ra);

		row_access_set(slot, t->att_token_id, token_id, false);
		changed_columns(t, change, version, &columns);
		for (int i = 0; i < columns.n; i++)
			row_access_set(slot, columns.atts[i], columns.values[i], columns.nulls[i]);
		row_access_insert(&ra, slot);
	}
	close_after_write(&ra, rel);
}

void
limit_rows_carry(const ExtTables *tables, Datum old_id, Datum new_id, LimitBalance balance,
				 void *arg)
{
	const LimitsTable *t = &tables->limits;
	const AttrNumber kept[] = {t->att_rate_limit, t->att_rate_window, t->att_credits_refill,
							   t->att_credits_refill_every, t->att_allowed_addresses};
	RowAccess ra;
	Relation rel = open_for_write(t, &ra);

	if (row_access_find(&ra, t->by_token, F_UUID_EQ, InvalidOid, old_id) &&
		row_access_lock_for_change(&ra) && row_access_uuid_equals(&ra, t->att_token_id, old_id))
	{
		TupleTableSlot *slot = row_access_new_row(&ra);
		int64 version = GetCurrentTimestamp();
		bool no_credits;
		bool isnull;
		int64 old_version = get_int8(&ra, t->att_credits_version, &isnull);
		CreditsRow credits;
		bool invalid = false;
		int64 remaining = 0;
		TimestampTz refilled_at = 0;

		if (!isnull && old_version >= version)
			version = old_version + 1;
		/* The balance of the row as locked: a spend that was in flight is in it. */
		no_credits = !read_credits(&ra, t, &credits, &invalid);
		if (!no_credits)
		{
			remaining = credits.remaining;
			refilled_at = credits.refilled_at;
			balance(&credits, &remaining, &refilled_at, arg);
		}
		row_access_set(slot, t->att_token_id, new_id, false);
		for (int i = 0; i < (int) lengthof(kept); i++)
		{
			Datum value = row_access_get(&ra, kept[i], &isnull);

			row_access_set(slot, kept[i], value, isnull);
		}
		row_access_set(slot, t->att_credits, Int64GetDatum(remaining), no_credits);
		row_access_set(slot, t->att_credits_refilled_at, TimestampTzGetDatum(refilled_at),
					   no_credits || refilled_at == 0);
		row_access_set(slot, t->att_credits_version, Int64GetDatum(version), false);
		row_access_insert(&ra, slot);
		/* The credits moved: the old token, in its grace period, has none left. */
		if (!no_credits)
		{
			AttrNumber columns[2] = {t->att_credits, t->att_credits_version};
			Datum values[2] = {Int64GetDatum(0), Int64GetDatum(version)};
			bool nulls[2] = {false, false};

			row_access_update(&ra, 2, columns, values, nulls);
		}
	}
	close_after_write(&ra, rel);
}

typedef struct GoneScan
{
	const LimitsTable *table;
	LimitTokenGone gone;
	void *arg;
	List *ids;
} GoneScan;

static bool
collect_gone(RowAccess *ra, void *arg)
{
	GoneScan *scan = arg;
	Datum id = row_access_copy_uuid(ra, scan->table->att_token_id);

	if (id != (Datum) 0 && scan->gone(id, scan->arg))
		scan->ids = lappend(scan->ids, DatumGetPointer(id));
	return true;
}

int
limit_rows_forget(const ExtTables *tables, LimitTokenGone gone, void *arg)
{
	const LimitsTable *t = &tables->limits;
	GoneScan scan = {t, gone, arg, NIL};
	RowAccess ra;
	Relation rel;
	ListCell *lc;
	int count = 0;

	if (!tables->has_limits)
		return 0;
	rel = open_for_write(t, &ra);
	row_access_scan(&ra, InvalidOid, InvalidOid, (Datum) 0, collect_gone, &scan);
	foreach (lc, scan.ids)
	{
		Datum id = PointerGetDatum(lfirst(lc));

		if (row_access_find(&ra, t->by_token, F_UUID_EQ, InvalidOid, id) &&
			row_access_lock_for_change(&ra) && row_access_uuid_equals(&ra, t->att_token_id, id))
		{
			row_access_delete(&ra);
			count++;
		}
	}
	close_after_write(&ra, rel);
	return count;
}
