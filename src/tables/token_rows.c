/*
 * token_rows.c
 *		The api_tokens table through row_access: finding tokens, inserting one.
 */
#include "postgres.h"

#include "access/table.h"
#include "access/xact.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/fmgroids.h"
#include "utils/uuid.h"

#include "compat.h"
#include "tables/token_rows.h"

TokenRows *
token_rows_open(Oid nspoid, bool for_write)
{
	TokenRows *rows = palloc(sizeof(TokenRows));
	Relation rel =
		token_table_open(nspoid, for_write ? RowExclusiveLock : AccessShareLock, &rows->table);

	row_access_begin(&rows->ra, rel, rows->table->owner, for_write);
	return rows;
}

TokenRows *
token_rows_try_open_for_write(Oid nspoid)
{
	TokenRows *rows = palloc(sizeof(TokenRows));
	Relation rel = token_table_try_open(nspoid, RowExclusiveLock, &rows->table);

	if (rel == NULL)
	{
		pfree(rows);
		return NULL;
	}
	row_access_begin(&rows->ra, rel, rows->table->owner, true);
	return rows;
}

void
token_rows_close(TokenRows *rows)
{
	Relation rel = rows->ra.rel;

	row_access_end(&rows->ra);
	table_close(rel, NoLock);
	pfree(rows);
}

bool
token_rows_find_by_id(TokenRows *rows, Datum id)
{
	return row_access_find(&rows->ra, rows->table->id_index, F_UUID_EQ, InvalidOid, id);
}

bool
token_rows_find_by_hash(TokenRows *rows, text *hash)
{
	return row_access_find(&rows->ra, rows->table->hash_index, F_TEXTEQ,
						   rows->table->hash_collation, PointerGetDatum(hash));
}

typedef struct UserScan
{
	const TokenTable *table;
	Datum user_id;
	List *ids;
} UserScan;

/* Collects the id of a row of the user (a sequential scan sees every row). */
static bool
collect_id(RowAccess *ra, void *arg)
{
	UserScan *scan = arg;
	Datum id;

	if (row_access_uuid_equals(ra, scan->table->att_user_id, scan->user_id) &&
		(id = row_access_copy_uuid(ra, scan->table->att_id)) != (Datum) 0)
		scan->ids = lappend(scan->ids, DatumGetPointer(id));
	return true;
}

List *
token_rows_ids_of_user(TokenRows *rows, Datum user_id)
{
	UserScan scan = {rows->table, user_id, NIL};

	/* Without an index leading with user_id, every row is read. */
	row_access_scan(&rows->ra, rows->table->user_index, F_UUID_EQ, user_id, collect_id, &scan);
	return scan.ids;
}

static int
compare_ids(const ListCell *a, const ListCell *b)
{
	return memcmp(lfirst(a), lfirst(b), UUID_LEN);
}

List *
token_rows_sort_ids(List *ids)
{
	List *unique = NIL;
	ListCell *lc;
	void *previous = NULL;

	list_sort(ids, compare_ids);
	foreach (lc, ids)
	{
		if (previous == NULL || memcmp(previous, lfirst(lc), UUID_LEN) != 0)
			unique = lappend(unique, lfirst(lc));
		previous = lfirst(lc);
	}
	list_free(ids);
	return unique;
}

/*
 * Re-raises the current error without any detail that contains secret:
 * a constraint violation describes the failing row, token_hash included.
 */
compat_noreturn static void rethrow_without(const char *secret,
											MemoryContext context) compat_noreturn_attr;

static void
rethrow_without(const char *secret, MemoryContext context)
{
	ErrorData *edata;

	MemoryContextSwitchTo(context);
	edata = CopyErrorData();
	FlushErrorState();
	if (edata->detail != NULL && strstr(edata->detail, secret) != NULL)
		edata->detail = pstrdup("The failing row is not shown, as it contains the token's hash.");
	ReThrowError(edata);
}

Datum
token_rows_insert(TokenRows *rows, const NewTokenRow *row)
{
	const TokenTable *t = rows->table;
	TupleTableSlot *slot = row_access_new_row(&rows->ra);
	MemoryContext context = CurrentMemoryContext;
	char *hash = text_to_cstring(row->token_hash);
	bool isnull;

	if (slot->tts_isnull[t->att_id - 1])
		row_access_set(slot, t->att_id, DirectFunctionCall1(gen_random_uuid, (Datum) 0), false);
	if (slot->tts_isnull[t->att_created_at - 1])
		row_access_set(slot, t->att_created_at,
					   TimestampTzGetDatum(GetCurrentTransactionStartTimestamp()), false);
	row_access_set(slot, t->att_user_id, row->user_id, false);
	row_access_set(slot, t->att_name, PointerGetDatum(row->name), false);
	row_access_set(slot, t->att_token_hash, PointerGetDatum(row->token_hash), false);
	row_access_set(slot, t->att_token_prefix, PointerGetDatum(row->token_prefix), false);
	row_access_set(slot, t->att_scopes, PointerGetDatum(row->scopes), row->scopes == NULL);
	row_access_set(slot, t->att_expires_at, TimestampTzGetDatum(row->expires_at), !row->has_expiry);
	row_access_set(slot, t->att_last_used_at, (Datum) 0, true);
	row_access_set(slot, t->att_is_active, BoolGetDatum(true), false);

	PG_TRY();
	{
		row_access_insert(&rows->ra, slot);
	}
	PG_CATCH();
	{
		rethrow_without(hash, context);
	}
	PG_END_TRY();

	return datumCopy(slot_getattr(slot, t->att_id, &isnull), false, UUID_LEN);
}
