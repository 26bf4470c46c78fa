/*
 * row_hint.c
 *		Reading a row again where it was last found.
 *
 * A validation of a limited token reads its api_token_limits row on every
 * call.  Going through the index costs a probe; going to the TID costs a
 * lookup in the buffer mapping table and, since a TID may be older than the
 * relation's last truncation, a check of the relation's size (a system
 * call).  A shared buffer that still holds the page needs neither:
 * ReadRecentBuffer pins it only if its tag is this relation's block, and a
 * truncation drops the buffers of the blocks it removes before the file
 * shrinks, so a buffer holding the block proves the block exists.
 */
#include "postgres.h"

#include "access/heapam.h"
#include "access/tableam.h"
#include "catalog/pg_am_d.h"
#include "executor/tuptable.h"
#include "storage/bufmgr.h"
#include "utils/rel.h"

#include "compat.h"
#include "tables/row_hint.h"

void
row_hint_clear(RowHint *hint)
{
	ItemPointerSetInvalid(&hint->root);
	hint->buffer = InvalidBuffer;
}

bool
row_hint_equal(const RowHint *a, const RowHint *b)
{
	return memcmp(&a->root, &b->root, sizeof(ItemPointerData)) == 0 && a->buffer == b->buffer;
}

/* The shared buffer the slot's row is in, or InvalidBuffer. */
static Buffer
slot_buffer(TupleTableSlot *slot)
{
	if (slot->tts_ops != &TTSOpsBufferHeapTuple)
		return InvalidBuffer;
	return ((BufferHeapTupleTableSlot *) slot)->buffer;
}

/* The relation is heap, in shared buffers, read into a buffer-heap slot. */
static bool
buffers_usable(RowAccess *ra)
{
	return ra->rel->rd_rel->relam == HEAP_TABLE_AM_OID && !RelationUsesLocalBuffers(ra->rel) &&
		   ra->slot->tts_ops == &TTSOpsBufferHeapTuple;
}

/*
 * The chain at root in buffer, which the caller has pinned (and this
 * releases): what heapam's index fetch does once it holds the page.
 */
static bool
fetch_in_buffer(RowAccess *ra, ItemPointer root, Buffer buffer)
{
	BufferHeapTupleTableSlot *bslot = (BufferHeapTupleTableSlot *) ra->slot;
	ItemPointerData tid = *root;
	bool found;

	/* The slot's own tuple header is filled below: nothing may point at it. */
	ExecClearTuple(ra->slot);
	heap_page_prune_opt(ra->rel, buffer);
	LockBuffer(buffer, BUFFER_LOCK_SHARE);
	found = heap_hot_search_buffer(&tid, ra->rel, buffer, ra->snapshot, &bslot->base.tupdata, NULL,
								   true);
	bslot->base.tupdata.t_self = tid;
	LockBuffer(buffer, BUFFER_LOCK_UNLOCK);
	/* The slot takes a pin of its own. */
	if (found)
		ExecStoreBufferHeapTuple(&bslot->base.tupdata, ra->slot, buffer);
	ReleaseBuffer(buffer);
	return found;
}

bool
row_hint_fetch(RowAccess *ra, RowHint *hint)
{
	bool found;

	if (!ItemPointerIsValid(&hint->root))
		return false;
	/* The buffer number comes from shared memory: in range before any use. */
	if (hint->buffer >= 1 && hint->buffer <= NBuffers && buffers_usable(ra) &&
		compat_read_recent_buffer(ra->rel, MAIN_FORKNUM, ItemPointerGetBlockNumber(&hint->root),
								  hint->buffer))
		return fetch_in_buffer(ra, &hint->root, hint->buffer);
	found = row_access_fetch_root(ra, &hint->root);
	hint->buffer = found ? slot_buffer(ra->slot) : InvalidBuffer;
	return found;
}

bool
row_hint_find(RowAccess *ra, Oid index, RegProcedure eq, Oid collation, Datum key, RowHint *hint)
{
	bool found = row_access_find_root(ra, index, eq, collation, key, &hint->root);

	hint->buffer = found ? slot_buffer(ra->slot) : InvalidBuffer;
	return found;
}
