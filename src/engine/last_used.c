/*
 * last_used.c
 *		last_used_at bookkeeping: whether a use is due, and writing uses,
 *		at the validating transaction's commit or in the worker's batches.
 *
 * The write must never become the bottleneck of validation, a reason for it
 * to wait or fail, or a surprise for the statement that called it.  So a
 * use is only noted during the transaction, and written just before it
 * commits: once per token however many validations the transaction made
 * (no chain of row versions for later probes to walk), after every
 * statement of the caller (which may itself update the row), on the latest
 * version of the row, and only if the table and the row can be locked at
 * once.  Where a write is impossible or would join the caller's
 * serialization conflicts (standby, read-only, SERIALIZABLE), nothing is
 * written.
 */
#include "postgres.h"

#include "access/xact.h"
#include "access/xlog.h"
#include "miscadmin.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/uuid.h"

#include "engine/last_used.h"
#include "engine/use_table.h"
#include "settings.h"
#include "tables/token_rows.h"

typedef struct PendingKey
{
	Oid nspoid;
	pg_uuid_t id;
} PendingKey;

typedef struct NotedUse
{
	PendingKey key;
	TimestampTz at;
} NotedUse;

/* Uses noted by this transaction, kept for the backend's life. */
static HTAB *pending = NULL;
static long pending_count = 0;

void
last_used_record(Oid nspoid, Datum token_id, TimestampTz now)
{
	PendingKey key;
	NotedUse *use;
	bool found;

	/* Preloaded: the background worker writes it, never this transaction. */
	if (use_table_enabled())
	{
		UseKey shared;

		memset(&shared, 0, sizeof(shared));
		shared.dboid = MyDatabaseId;
		shared.nspoid = nspoid;
		memcpy(shared.token_id.data, DatumGetUUIDP(token_id)->data, UUID_LEN);
		use_table_record(&shared, now);
		return;
	}

	if (pending == NULL)
	{
		HASHCTL ctl;

		ctl.keysize = sizeof(PendingKey);
		ctl.entrysize = sizeof(NotedUse);
		ctl.hcxt = TopMemoryContext;
		pending =
			hash_create("api_tokens pending uses", 16, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	memset(&key, 0, sizeof(key));
	key.nspoid = nspoid;
	memcpy(key.id.data, DatumGetUUIDP(token_id)->data, UUID_LEN);
	use = hash_search(pending, &key, HASH_ENTER, &found);
	if (!found)
	{
		use->at = now;
		pending_count++;
	}
	else if (use->at < now)
		use->at = now;
}

bool
last_used_is_due(bool has_last, TimestampTz last, TimestampTz at)
{
	int64 interval = (int64) api_tokens_last_used_interval * USECS_PER_SEC;

	return !has_last || (last < at && last <= at - interval);
}

/* True if the schema still holds the extension's table. */
static bool
schema_has_table(Oid nspoid)
{
	return get_namespace_name(nspoid) != NULL &&
		   OidIsValid(get_relname_relid("api_tokens", nspoid));
}

/* True if the row in rows->slot should get last_used_at = at. */
static bool
write_is_due(TokenRows *rows, TimestampTz at)
{
	TimestampTz last;
	/* A statement of its own: the call sets last, which is then read. */
	bool has_last = row_access_get_timestamptz(&rows->ra, rows->table->att_last_used_at, &last);

	return last_used_is_due(has_last, last, at);
}

void
last_used_write(const PendingUse *uses, int count, bool *done)
{
	TokenRows *rows = NULL;
	Oid open_nspoid = InvalidOid;
	bool table_busy = false;

	for (int i = 0; i < count; i++)
	{
		const PendingUse *use = &uses[i];
		AttrNumber column;
		Datum value = TimestampTzGetDatum(use->at);
		bool isnull = false;

		done[i] = false;
		/* Never an infinite use: last_used_at would stop moving for good. */
		if (TIMESTAMP_NOT_FINITE(use->at))
		{
			done[i] = true;
			continue;
		}
		if (use->key.nspoid != open_nspoid)
		{
			if (rows != NULL)
				token_rows_close(rows);
			rows = NULL;
			open_nspoid = use->key.nspoid;
			table_busy = false;
			if (schema_has_table(open_nspoid))
			{
				/* Builds the description if needed, then never waits for the table. */
				token_rows_close(token_rows_open(open_nspoid, false));
				rows = token_rows_try_open_for_write(open_nspoid);
				table_busy = rows == NULL;
			}
		}
		if (rows == NULL)
		{
			/* No table (DROP EXTENSION): nothing to write to, ever. */
			done[i] = !table_busy;
			continue;
		}
		column = rows->table->att_last_used_at;
		if (!token_rows_find_by_id(rows, UUIDPGetDatum(&use->key.token_id)))
		{
			done[i] = true; /* deleted meanwhile */
			continue;
		}
		if (!write_is_due(rows, use->at))
		{
			done[i] = true;
			continue;
		}
		switch (row_access_lock(&rows->ra, LockWaitSkip))
		{
			case ROW_LOCKED:
				if (write_is_due(rows, use->at))
					row_access_update(&rows->ra, 1, &column, &value, &isnull);
				done[i] = true;
				break;
			case ROW_GONE:
				done[i] = true;
				break;
			default:
				/* Locked by another transaction: next round. */
				break;
		}
	}
	if (rows != NULL)
		token_rows_close(rows);
}

static void
write_pending(void)
{
	MemoryContext context;
	MemoryContext old;
	HASH_SEQ_STATUS status;
	NotedUse *use;
	PendingUse *uses;
	bool *done;
	int n = 0;

	if (RecoveryInProgress() || XactReadOnly || IsolationIsSerializable())
		return;

	context =
		AllocSetContextCreate(TopTransactionContext, "api_tokens last use", ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(context);
	uses = palloc(sizeof(PendingUse) * pending_count);
	done = palloc(sizeof(bool) * pending_count);
	hash_seq_init(&status, pending);
	while ((use = hash_seq_search(&status)) != NULL)
	{
		memset(&uses[n].key, 0, sizeof(UseKey));
		uses[n].key.dboid = MyDatabaseId;
		uses[n].key.nspoid = use->key.nspoid;
		uses[n].key.token_id = use->key.id;
		uses[n].at = use->at;
		n++;
	}
	last_used_write(uses, n, done);
	MemoryContextSwitchTo(old);
	MemoryContextDelete(context);
}

static void
forget_pending(void)
{
	HASH_SEQ_STATUS status;
	NotedUse *use;

	hash_seq_init(&status, pending);
	while ((use = hash_seq_search(&status)) != NULL)
		(void) hash_search(pending, &use->key, HASH_REMOVE, NULL);
	pending_count = 0;
}

static void
on_transaction_event(XactEvent event, void *arg)
{
	if (pending_count == 0)
		return;
	if (event == XACT_EVENT_PRE_COMMIT || event == XACT_EVENT_PRE_PREPARE)
		write_pending();
	/* Whatever the event, the notes belong to this transaction only. */
	forget_pending();
}

void
last_used_init(void)
{
	RegisterXactCallback(on_transaction_event, NULL);
}
