/*
 * lineage.c
 *		Reading and writing api_token_rotations.
 *
 * The table's rows are data like any other: a walk along a lineage stops
 * at a token it has already seen (a cycle cannot come from rotations, but
 * rows can be written by hand), and nowhere else, however long the
 * lineage: it can be cancelled, and stopping early would leave tokens of
 * the family out of a revocation.
 *
 * A rotation's row outlives the purge of one of its two tokens: the other
 * one still needs it (a predecessor in its grace period must stay rotated
 * out, a family revocation must reach past the purged token).  It goes
 * when neither token is left.
 */
#include "postgres.h"

#include "access/table.h"
#include "miscadmin.h"
#include "utils/fmgroids.h"
#include "utils/hsearch.h"
#include "utils/uuid.h"

#include "tables/catalog.h"
#include "tables/lineage.h"
#include "tables/row_access.h"

/* The rotations table of the schema opened for access, or false if none. */
static bool
open_rotations(Oid nspoid, bool for_write, RowAccess *ra, const RotationsTable **table)
{
	const ExtTables *tables = ext_tables_of(nspoid);

	if (!tables->present)
		return false;
	*table = &tables->rotations;
	row_access_begin(ra,
					 table_open((*table)->relid, for_write ? RowExclusiveLock : AccessShareLock),
					 (*table)->owner, for_write);
	return true;
}

static void
close_rotations(RowAccess *ra)
{
	Relation rel = ra->rel;

	row_access_end(ra);
	table_close(rel, NoLock);
}

/* Copies the found row into *rotation. */
static void
read_rotation(RowAccess *ra, const RotationsTable *t, Rotation *rotation)
{
	rotation->predecessor = row_access_copy_uuid(ra, t->att_predecessor);
	rotation->successor = row_access_copy_uuid(ra, t->att_successor);
	(void) row_access_get_timestamptz(ra, t->att_rotated_at, &rotation->rotated_at);
	(void) row_access_get_timestamptz(ra, t->att_grace_ends_at, &rotation->grace_ends_at);
}

bool
lineage_rotated_out(Oid nspoid, Datum token_id, Rotation *rotation)
{
	RowAccess ra;
	const RotationsTable *t;
	bool found;

	if (!open_rotations(nspoid, false, &ra, &t))
		return false;
	found = row_access_find(&ra, t->by_predecessor, F_UUID_EQ, InvalidOid, token_id);
	if (found)
		read_rotation(&ra, t, rotation);
	close_rotations(&ra);
	return found;
}

void
lineage_record(Oid nspoid, const Rotation *rotation)
{
	RowAccess ra;
	const RotationsTable *t;
	TupleTableSlot *slot;

	if (!open_rotations(nspoid, true, &ra, &t))
		return;
	slot = row_access_new_row(&ra);
	row_access_set(slot, t->att_predecessor, rotation->predecessor, false);
	row_access_set(slot, t->att_successor, rotation->successor, false);
	row_access_set(slot, t->att_rotated_at, TimestampTzGetDatum(rotation->rotated_at), false);
	row_access_set(slot, t->att_grace_ends_at, TimestampTzGetDatum(rotation->grace_ends_at), false);
	row_access_insert(&ra, slot);
	close_rotations(&ra);
}

/*
 * Follows the lineage from token_id, forward (to successors) or backward,
 * adding each token met to *members; seen holds the tokens already met.
 */
static void
walk(RowAccess *ra, const RotationsTable *t, Datum token_id, bool forward, HTAB *seen,
	 List **members)
{
	Datum current = token_id;

	for (;;)
	{
		Datum next;
		bool found;

		CHECK_FOR_INTERRUPTS();
		if (!row_access_find(ra, forward ? t->by_predecessor : t->by_successor, F_UUID_EQ,
							 InvalidOid, current))
			return;
		next = row_access_copy_uuid(ra, forward ? t->att_successor : t->att_predecessor);
		(void) hash_search(seen, DatumGetPointer(next), HASH_ENTER, &found);
		if (found)
			return;
		*members = forward ? lappend(*members, DatumGetPointer(next))
						   : lcons(DatumGetPointer(next), *members);
		current = next;
	}
}

List *
lineage_members(Oid nspoid, Datum token_id, bool whole)
{
	RowAccess ra;
	const RotationsTable *t;
	HASHCTL ctl;
	HTAB *seen;
	List *before = NIL;
	List *after = NIL;

	if (!open_rotations(nspoid, false, &ra, &t))
		return NIL;
	ctl.keysize = UUID_LEN;
	ctl.entrysize = UUID_LEN;
	ctl.hcxt = CurrentMemoryContext;
	seen = hash_create("api_tokens lineage", 64, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	(void) hash_search(seen, DatumGetPointer(token_id), HASH_ENTER, NULL);

	walk(&ra, t, token_id, true, seen, &after);
	if (whole)
		walk(&ra, t, token_id, false, seen, &before);
	close_rotations(&ra);
	hash_destroy(seen);
	return list_concat(before, after);
}

/*
 * Deletes the row whose key (a unique column) equals token_id if the token
 * at its other end (other_att) is gone too.
 */
static void
forget_if_other_gone(RowAccess *ra, Oid index, AttrNumber other_att, Datum token_id,
					 LineageTokenGone gone, void *arg)
{
	Datum other;

	if (!row_access_find(ra, index, F_UUID_EQ, InvalidOid, token_id))
		return;
	other = row_access_copy_uuid(ra, other_att);
	if (other != (Datum) 0 && !gone(other, arg))
		return;
	if (row_access_lock_for_change(ra))
		row_access_delete(ra);
}

void
lineage_forget(Oid nspoid, Datum token_id, LineageTokenGone gone, void *arg)
{
	RowAccess ra;
	const RotationsTable *t;

	if (!open_rotations(nspoid, true, &ra, &t))
		return;
	forget_if_other_gone(&ra, t->by_predecessor, t->att_successor, token_id, gone, arg);
	forget_if_other_gone(&ra, t->by_successor, t->att_predecessor, token_id, gone, arg);
	close_rotations(&ra);
}
