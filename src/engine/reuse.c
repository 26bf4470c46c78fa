/*
 * reuse.c
 *		Reuse detection: a token rotated out and presented after its grace.
 *
 * A rotated-out token in use means that two parties hold the lineage: the
 * legitimate holder of the successor and whoever still presents the old
 * token (GitLab's reasoning for revoking token families).  Validation only
 * notes the reuse; it is acted upon when the transaction commits, after the
 * caller's statements, like last-use bookkeeping.  Where the transaction
 * cannot write (READ ONLY), must not (SERIALIZABLE: the writes would join
 * the caller's serialization conflicts) or does not commit (PostgREST's,
 * once its pre-request refused the token), the library preloaded hands the
 * reuse to the database's flusher through shared memory.
 *
 * Whoever holds an old token can present it at any rate: a reuse already
 * reported within api_tokens.last_used_interval is reported again only if
 * it revokes something new, so that replaying the token does not turn every
 * request into a write (an event, a notification, a WAL flush).
 */
#include "postgres.h"

#include "access/xact.h"
#include "access/xlog.h"
#include "miscadmin.h"
#include "utils/memutils.h"
#include "utils/uuid.h"

#include "engine/reuse.h"
#include "engine/use_table.h"
#include "settings.h"
#include "tables/events.h"
#include "tables/lineage.h"
#include "tables/revocation.h"
#include "tables/token_rows.h"

/* Reuses noted by this transaction, in its memory. */
static List *notes = NIL;

void
reuse_note(Oid nspoid, Datum token_id)
{
	bool revoke = api_tokens_rotated_reuse == ROTATED_REUSE_REVOKE_FAMILY;
	MemoryContext old;
	QueuedReuse *note;
	ListCell *lc;

	/* Once per token and transaction, however often it is presented. */
	foreach (lc, notes)
	{
		QueuedReuse *noted = lfirst(lc);

		if (noted->key.nspoid == nspoid &&
			memcmp(noted->key.token_id.data, DatumGetUUIDP(token_id)->data, UUID_LEN) == 0)
		{
			noted->revoke_family |= revoke;
			return;
		}
	}
	old = MemoryContextSwitchTo(TopTransactionContext);
	note = palloc0(sizeof(QueuedReuse));
	note->key.dboid = MyDatabaseId;
	note->key.nspoid = nspoid;
	memcpy(note->key.token_id.data, DatumGetUUIDP(token_id)->data, UUID_LEN);
	note->revoke_family = revoke;
	notes = lappend(notes, note);
	MemoryContextSwitchTo(old);
}

/* True if a reuse of token_id was reported within the last-use interval. */
static bool
reported_recently(Oid nspoid, Datum token_id)
{
	int64 interval = (int64) api_tokens_last_used_interval * USECS_PER_SEC;

	return interval > 0 && events_recorded_since(nspoid, token_id, "reused",
												 GetCurrentTransactionStartTimestamp() - interval);
}

/* The user of the token, or (Datum) 0 if the token is gone. */
static Datum
user_of(Oid nspoid, Datum token_id)
{
	TokenRows *rows = token_rows_open(nspoid, false);
	Datum user_id = token_rows_find_by_id(rows, token_id)
						? row_access_copy_uuid(&rows->ra, rows->table->att_user_id)
						: (Datum) 0;

	token_rows_close(rows);
	return user_id;
}

void
reuse_act(const QueuedReuse *reuse)
{
	Oid nspoid = reuse->key.nspoid;
	Datum token_id = UUIDPGetDatum(&reuse->key.token_id);
	bool revoke = reuse->revoke_family;
	Datum user_id;
	Rotation rotation;
	EventWriter events;
	EventDetail detail;
	int revoked = 0;

	/* Deleted meanwhile (purged, or with its user): nothing left to protect. */
	if (!lineage_rotated_out(nspoid, token_id, &rotation) ||
		(user_id = user_of(nspoid, token_id)) == (Datum) 0)
		return;
	if (revoke)
		revoked = revocation_revoke_lineage(nspoid, token_id, false, "family");
	if (revoked == 0 && reported_recently(nspoid, token_id))
		return;
	events_begin(&events, nspoid);
	event_detail_init(&detail);
	event_detail_uuid(&detail, "successor_id", rotation.successor);
	event_detail_text(&detail, "action", revoke ? "revoke_family" : "report");
	if (revoke)
		event_detail_int(&detail, "revoked", revoked);
	events_add(&events, "reused", token_id, user_id, &detail);
	events_end(&events);
}

/*
 * For the flusher, when this transaction cannot act: only on a primary
 * with the library preloaded; nothing to do on a standby, where nothing
 * can be written.  Cannot fail (it also runs while aborting).
 */
static void
hand_over(List *todo)
{
	ListCell *lc;

	if (!use_table_enabled() || RecoveryInProgress())
		return;
	/* One dropped (counted) comes back at the token's next presentation. */
	foreach (lc, todo)
		(void) use_table_record_reuse(lfirst(lc));
}

static void
on_transaction_event(XactEvent event, void *arg)
{
	List *todo = notes;

	if (todo == NIL)
		return;
	/* Whatever the event, the notes belong to this transaction only. */
	notes = NIL;
	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
		case XACT_EVENT_PRE_PREPARE:
			/* Not in the caller's serialization conflicts either, like last use. */
			if (XactReadOnly || RecoveryInProgress() || IsolationIsSerializable())
				hand_over(todo);
			else
			{
				ListCell *lc;

				foreach (lc, todo)
					reuse_act(lfirst(lc));
			}
			break;
		case XACT_EVENT_ABORT:
			hand_over(todo);
			break;
		default:
			break;
	}
}

void
reuse_init(void)
{
	RegisterXactCallback(on_transaction_event, NULL);
}
