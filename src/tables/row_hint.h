/*
 * row_hint.h
 *		Where a row was last found, to read it again without an index probe.
 *
 * A hint is the root TID of the row's HOT chain (which stays put while the
 * row is updated without a new index entry) and the shared buffer its page
 * was in.  Only a hint: callers check what they find there.
 */
#ifndef API_TOKENS_ROW_HINT_H
#define API_TOKENS_ROW_HINT_H

#include "postgres.h"

#include "storage/buf.h"
#include "storage/itemptr.h"

#include "tables/row_access.h"

typedef struct RowHint
{
	ItemPointerData root; /* invalid: nowhere known */
	Buffer buffer;		  /* InvalidBuffer: not known */
} RowHint;

extern void row_hint_clear(RowHint *hint);
extern bool row_hint_equal(const RowHint *a, const RowHint *b);

/*
 * Reads the row version the snapshot sees in the chain at hint->root: in
 * hint->buffer if that buffer still holds the page (no lookup, no size
 * check), else through the buffer manager; notes the buffer used.  False
 * if there is none (the hint may point at another row: check it).
 */
extern bool row_hint_fetch(RowAccess *ra, RowHint *hint);

/* row_access_find_root, noting where the row was found in hint. */
extern bool row_hint_find(RowAccess *ra, Oid index, RegProcedure eq, Oid collation, Datum key,
						  RowHint *hint);

#endif /* API_TOKENS_ROW_HINT_H */
