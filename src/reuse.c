/*
 * reuse.c
 *		Reuse detection: a token rotated out and presented after its grace.
 *
 * A rotated-out token in use means that two parties hold the lineage: the
 * legitimate holder of the successor and whoever still presents the old
 * token (GitLab's reasoning for revoking token families).  Validation only
 * notes the reuse; it is acted upon when the transaction commits, after the
 * caller's statements, like last-use bookkeeping.  Where the transaction
 * cannot write (READ ONLY) or does not commit (PostgREST's, once its
 * pre-request refused the token), the library preloaded hands the reuse to
 * the database's flusher through shared memory (reuse_queue.c).
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

#include "events.h"
#include "lineage.h"
#include "reuse.h"
#include "reuse_queue.h"
#include "rotate.h"
#include "settings.h"

/* Reuses noted by this transaction, in its memory. */
static List *notes = NIL;

void
reuse_note(Oid nspoid, Datum token_id, Datum user_id)
{
	bool revoke = api_tokens_rotated_reuse == ROTATED_REUSE_REVOKE_FAMILY;
	MemoryContext old;
	QueuedReuse *note;
	ListCell *lc;

	/* Once per token and transaction, however often it is presented. */
	foreach (lc, notes)
	{
		QueuedReuse *noted = lfirst(lc);

		if (noted->nspoid == nspoid &&
			memcmp(noted->token_id.data, DatumGetUUIDP(token_id)->data, UUID_LEN) == 0)
		{
			noted->revoke_family |= revoke;
			return;
		}
	}
	old = MemoryContextSwitchTo(TopTransactionContext);
	note = palloc(sizeof(QueuedReuse));
	note->dboid = MyDatabaseId;
	note->nspoid = nspoid;
	memcpy(note->token_id.data, DatumGetUUIDP(token_id)->data, UUID_LEN);
	memcpy(note->user_id.data, DatumGetUUIDP(user_id)->data, UUID_LEN);
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

void
reuse_act(const QueuedReuse *reuse)
{
	Datum token_id = UUIDPGetDatum(&reuse->token_id);
	bool revoke = reuse->revoke_family;
	Rotation rotation;
	EventWriter events;
	EventDetail detail;
	int revoked = 0;

	/* Purged meanwhile: nothing left to protect. */
	if (!lineage_rotated_out(reuse->nspoid, token_id, &rotation))
		return;
	if (revoke)
		revoked = rotate_revoke_lineage(reuse->nspoid, token_id, false, "family");
	if (revoked == 0 && reported_recently(reuse->nspoid, token_id))
		return;
	events_begin(&events, reuse->nspoid);
	event_detail_init(&detail);
	event_detail_uuid(&detail, "successor_id", rotation.successor);
	event_detail_text(&detail, "action", revoke ? "revoke_family" : "report");
	if (revoke)
		event_detail_int(&detail, "revoked", revoked);
	events_add(&events, "reused", token_id, UUIDPGetDatum(&reuse->user_id), &detail);
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

	if (!reuse_queue_enabled() || RecoveryInProgress())
		return;
	/* A full queue keeps what it has: a later presentation comes back. */
	foreach (lc, todo)
		(void) reuse_queue_add(lfirst(lc));
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
			if (XactReadOnly || RecoveryInProgress())
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
