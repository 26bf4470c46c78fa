/*
 * revocation.c
 *		Revoking tokens by id or by lineage, and the per-user lock that
 *		keeps a token being issued from escaping a revocation of its user.
 *
 * Used by the SQL functions that revoke and by reuse detection, which may
 * run in the background worker.  Rows are locked in id order, so that two
 * revocations cannot deadlock with each other.
 */
#include "postgres.h"

#include "access/xact.h"
#include "common/hashfn.h"
#include "utils/fmgrprotos.h"
#include "utils/snapmgr.h"
#include "utils/uuid.h"

#include "tables/events.h"
#include "tables/lineage.h"
#include "tables/revocation.h"

/* First key of the per-user advisory locks ("apit"). */
#define USER_LOCK_CLASS 1634757748

void
revocation_lock_user(Datum user_id, bool exclusive)
{
	Datum key = Int32GetDatum(
		(int32) hash_bytes((const unsigned char *) DatumGetPointer(user_id), UUID_LEN));

	if (exclusive)
		DirectFunctionCall2(pg_advisory_xact_lock_int4, Int32GetDatum(USER_LOCK_CLASS), key);
	else
		DirectFunctionCall2(pg_advisory_xact_lock_shared_int4, Int32GetDatum(USER_LOCK_CLASS), key);
}

void
revocation_fail_on_unseen_tokens(TokenRows *rows, Datum user_id, List *seen)
{
	Snapshot own = rows->ra.snapshot;
	List *latest;
	ListCell *lc;

	rows->ra.snapshot = RegisterSnapshot(GetLatestSnapshot());
	latest = token_rows_ids_of_user(rows, user_id);
	UnregisterSnapshot(rows->ra.snapshot);
	rows->ra.snapshot = own;

	foreach (lc, latest)
	{
		bool found = false;
		ListCell *lc2;

		foreach (lc2, seen)
			found = found || memcmp(lfirst(lc), lfirst(lc2), UUID_LEN) == 0;
		if (!found)
			ereport(
				ERROR,
				(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
				 errmsg("could not serialize access due to a token created concurrently"),
				 errdetail("A token of this user was created after this transaction's snapshot."),
				 errhint("Retry the transaction.")));
	}
}

int
revocation_revoke_ids(TokenRows *rows, EventWriter *events, List *ids, const Datum *user_id,
					  const char *how)
{
	const TokenTable *t = rows->table;
	ListCell *lc;
	int count = 0;

	foreach (lc, ids)
	{
		Datum id = PointerGetDatum(lfirst(lc));
		AttrNumber column = t->att_is_active;
		Datum inactive = BoolGetDatum(false);
		bool isnull = false;
		EventDetail detail;

		/* Inactive already (most of a long lineage): nothing to lock. */
		if (!token_rows_find_by_id(rows, id) ||
			!row_access_get_bool(&rows->ra, t->att_is_active, false) ||
			!row_access_lock_for_change(&rows->ra))
			continue;
		if (!row_access_uuid_equals(&rows->ra, t->att_id, id) ||
			!row_access_get_bool(&rows->ra, t->att_is_active, false))
			continue;
		if (user_id != NULL && !row_access_uuid_equals(&rows->ra, t->att_user_id, *user_id))
			continue;
		row_access_update(&rows->ra, 1, &column, &inactive, &isnull);
		event_detail_init(&detail);
		event_detail_text(&detail, "how", how);
		events_add(events, "revoked", id, row_access_copy_uuid(&rows->ra, t->att_user_id), &detail);
		count++;
	}
	return count;
}

/*
 * Revokes the active tokens of token_id's lineage (whole: all of it;
 * otherwise the tokens descended from it), recording how.  Returns how many.
 * Like api_token_revoke_user, it first waits for tokens of the user being
 * issued (a rotation in progress adds to the lineage).
 */
int
revocation_revoke_lineage(Oid nspoid, Datum token_id, bool whole, const char *how)
{
	TokenRows *rows;
	EventWriter events;
	Datum user_id;
	List *ids;
	int count;

	rows = token_rows_open(nspoid, false);
	user_id = token_rows_find_by_id(rows, token_id)
				  ? row_access_copy_uuid(&rows->ra, rows->table->att_user_id)
				  : (Datum) 0;
	token_rows_close(rows);
	if (user_id == (Datum) 0)
		return 0;
	revocation_lock_user(user_id, true);

	rows = token_rows_open(nspoid, true);
	if (IsolationUsesXactSnapshot())
		revocation_fail_on_unseen_tokens(rows, user_id, token_rows_ids_of_user(rows, user_id));
	ids = lineage_members(nspoid, token_id, whole);
	if (whole)
		ids = lappend(ids, DatumGetPointer(token_id));
	events_begin(&events, nspoid);
	count = revocation_revoke_ids(rows, &events, token_rows_sort_ids(ids), NULL, how);
	events_end(&events);
	token_rows_close(rows);
	return count;
}
