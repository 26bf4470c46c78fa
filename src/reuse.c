/*
 * reuse.c
 *		Reuse detection: a token rotated out and presented after its grace.
 *
 * A rotated-out token in use means that two parties hold the lineage: the
 * legitimate holder of the successor and whoever still presents the old
 * token (GitLab's reasoning for revoking token families).  Validation only
 * notes the reuse; it is acted upon when the transaction commits, after the
 * caller's statements, like last-use bookkeeping.
 *
 * Whoever holds an old token can present it at any rate: a reuse already
 * reported within api_tokens.last_used_interval is reported again only if
 * it revokes something new, so that replaying the token does not turn every
 * request into a write (an event, a notification, a WAL flush).
 */
#include "postgres.h"

#include "access/xact.h"
#include "access/xlog.h"
#include "utils/memutils.h"
#include "utils/uuid.h"

#include "events.h"
#include "lineage.h"
#include "reuse.h"
#include "rotate.h"
#include "settings.h"

typedef struct ReuseNote
{
	Oid nspoid;
	pg_uuid_t token_id;
	pg_uuid_t user_id;
} ReuseNote;

/* Notes of this transaction, in its memory. */
static List *notes = NIL;

void
reuse_note(Oid nspoid, Datum token_id, Datum user_id)
{
	MemoryContext old;
	ReuseNote *note;
	ListCell *lc;

	/* Once per token and transaction, however often it is presented. */
	foreach (lc, notes)
	{
		ReuseNote *noted = lfirst(lc);

		if (noted->nspoid == nspoid &&
			memcmp(noted->token_id.data, DatumGetUUIDP(token_id)->data, UUID_LEN) == 0)
			return;
	}
	old = MemoryContextSwitchTo(TopTransactionContext);
	note = palloc(sizeof(ReuseNote));

	note->nspoid = nspoid;
	memcpy(note->token_id.data, DatumGetUUIDP(token_id)->data, UUID_LEN);
	memcpy(note->user_id.data, DatumGetUUIDP(user_id)->data, UUID_LEN);
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

/* Records the reuse and, if so configured, revokes the token's descendants. */
static void
act_on(ReuseNote *note)
{
	Datum token_id = UUIDPGetDatum(&note->token_id);
	bool revoke = api_tokens_rotated_reuse == ROTATED_REUSE_REVOKE_FAMILY;
	Rotation rotation;
	EventWriter events;
	EventDetail detail;
	int revoked = 0;

	/* Purged meanwhile: nothing left to protect. */
	if (!lineage_rotated_out(note->nspoid, token_id, &rotation))
		return;
	if (revoke)
		revoked = rotate_revoke_lineage(note->nspoid, token_id, false, "family");
	if (revoked == 0 && reported_recently(note->nspoid, token_id))
		return;
	events_begin(&events, note->nspoid);
	event_detail_init(&detail);
	event_detail_uuid(&detail, "successor_id", rotation.successor);
	event_detail_text(&detail, "action", revoke ? "revoke_family" : "report");
	if (revoke)
		event_detail_int(&detail, "revoked", revoked);
	events_add(&events, "reused", token_id, UUIDPGetDatum(&note->user_id), &detail);
	events_end(&events);
}

static void
on_transaction_event(XactEvent event, void *arg)
{
	if (notes == NIL)
		return;
	if ((event == XACT_EVENT_PRE_COMMIT || event == XACT_EVENT_PRE_PREPARE) &&
		!RecoveryInProgress() && !XactReadOnly)
	{
		List *todo = notes;
		ListCell *lc;

		notes = NIL;
		foreach (lc, todo)
			act_on(lfirst(lc));
	}
	/* Whatever the event, the notes belong to this transaction only. */
	notes = NIL;
}

void
reuse_init(void)
{
	RegisterXactCallback(on_transaction_event, NULL);
}
