/*
 * last_used.c
 *		last_used_at bookkeeping for api_token_validate, written at commit.
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
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/uuid.h"

#include "last_used.h"
#include "settings.h"
#include "token_rows.h"

typedef struct PendingKey
{
	Oid nspoid;
	pg_uuid_t id;
} PendingKey;

typedef struct PendingUse
{
	PendingKey key;
	TimestampTz at;
} PendingUse;

/* Uses noted by this transaction, kept for the backend's life. */
static HTAB *pending = NULL;
static long pending_count = 0;

void
last_used_record(Oid nspoid, Datum token_id, TimestampTz now)
{
	PendingKey key;
	PendingUse *use;
	bool found;

	if (pending == NULL)
	{
		HASHCTL ctl;

		ctl.keysize = sizeof(PendingKey);
		ctl.entrysize = sizeof(PendingUse);
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

/* True if the row in rows->slot should get last_used_at = at. */
static bool
write_is_due(TokenRows *rows, TimestampTz at)
{
	TimestampTz last;
	bool has_last = row_access_get_timestamptz(&rows->ra, rows->table->att_last_used_at, &last);

	return last_used_is_due(has_last, last, at);
}

static void
write_one(TokenRows *rows, PendingUse *use)
{
	AttrNumber column = rows->table->att_last_used_at;
	Datum value = TimestampTzGetDatum(use->at);
	bool isnull = false;

	if (!token_rows_find_by_id(rows, UUIDPGetDatum(&use->key.id)) || !write_is_due(rows, use->at))
		return;
	if (row_access_lock(&rows->ra, LockWaitSkip) != ROW_LOCKED || !write_is_due(rows, use->at))
		return;
	row_access_update(&rows->ra, 1, &column, &value, &isnull);
}

static void
write_pending(void)
{
	MemoryContext context;
	MemoryContext old;
	HASH_SEQ_STATUS status;
	PendingUse *use;
	TokenRows *rows = NULL;
	Oid open_nspoid = InvalidOid;

	if (RecoveryInProgress() || XactReadOnly || IsolationIsSerializable())
		return;

	context =
		AllocSetContextCreate(TopTransactionContext, "api_tokens last use", ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(context);
	hash_seq_init(&status, pending);
	while ((use = hash_seq_search(&status)) != NULL)
	{
		if (use->key.nspoid != open_nspoid)
		{
			if (rows != NULL)
				token_rows_close(rows);
			open_nspoid = use->key.nspoid;
			rows = token_rows_try_open_for_write(open_nspoid);
		}
		/* NULL: the table is locked by someone else, or changed; skip. */
		if (rows != NULL)
			write_one(rows, use);
	}
	if (rows != NULL)
		token_rows_close(rows);
	MemoryContextSwitchTo(old);
	MemoryContextDelete(context);
}

static void
forget_pending(void)
{
	HASH_SEQ_STATUS status;
	PendingUse *use;

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
