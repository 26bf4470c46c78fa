/*
 * row_access.h
 *		Reading and changing rows of a table by OID, through the executor's
 *		single-row routines (those logical replication uses).
 *
 * No SQL text is ever parsed here: relations, indexes and functions are
 * reached by OID, so nothing the extension does depends on a name that an
 * untrusted schema owner could redirect.  Finds see what a new statement of
 * a VOLATILE function would see: the latest snapshot, including the
 * transaction's own earlier changes.  Writes go through
 * ExecSimpleRelationInsert/Update/Delete, so indexes, NOT NULL and CHECK
 * constraints, generated columns and foreign keys (AFTER triggers, fired
 * when the access ends) behave as for statements.
 */
#ifndef API_TOKENS_ROW_ACCESS_H
#define API_TOKENS_ROW_ACCESS_H

#include "postgres.h"

#include "access/skey.h"
#include "storage/itemptr.h"
#include "executor/tuptable.h"
#include "nodes/execnodes.h"
#include "nodes/lockoptions.h"
#include "utils/relcache.h"
#include "utils/snapshot.h"
#include "utils/timestamp.h"

typedef struct RowAccess
{
	Relation rel;		  /* open and locked by the caller */
	Snapshot snapshot;	  /* what finds see */
	TupleTableSlot *slot; /* the row found or locked last */
	bool for_write;
	/* Only when writing: */
	EState *estate;
	ResultRelInfo *result;
	EPQState epq;
	TupleTableSlot *new_slot;
	Oid saved_user;
	int saved_sec_context;
} RowAccess;

/* Outcome of locking a found row. */
typedef enum RowLock
{
	ROW_LOCKED, /* locked; the slot holds the latest version */
	ROW_GONE,	/* deleted meanwhile */
	ROW_BUSY,	/* another transaction holds it (only with LockWaitSkip) */
	ROW_CHANGED /* changed since the transaction's snapshot (REPEATABLE READ) */
} RowLock;

/*
 * Starts reading rows of rel (open and locked by the caller) and, if
 * for_write, changing them.  Changes run as role run_as (the table's
 * trusted owner), in a security-restricted operation, as the server's own
 * maintenance does.
 */
extern void row_access_begin(RowAccess *ra, Relation rel, Oid run_as, bool for_write);

/*
 * Starts reading rows of rel with snapshot, which the caller keeps alive
 * (registered, or another access still open on it): two tables read at one
 * point in time, for the price of one snapshot.
 */
extern void row_access_begin_reading_at(RowAccess *ra, Relation rel, Snapshot snapshot);

/* Fires the queued AFTER triggers (for writes) and releases everything but rel. */
extern void row_access_end(RowAccess *ra);

/* Finds a row whose key equals key in a btree index on one column. */
extern bool row_access_find(RowAccess *ra, Oid index, RegProcedure eq, Oid collation, Datum key);

/*
 * row_access_find, also giving the TID the index points to (the root of
 * the row's HOT chain, which stays where it is while the row is updated
 * without a new index entry); invalid when nothing is found.
 */
extern bool row_access_find_root(RowAccess *ra, Oid index, RegProcedure eq, Oid collation,
								 Datum key, ItemPointer root);

/*
 * Reads the row version the snapshot sees in the HOT chain rooted at root,
 * without an index: false if there is none (the TID may be stale, from an
 * older file of the relation or pointing at another row: callers check
 * what they find).
 */
extern bool row_access_fetch_root(RowAccess *ra, ItemPointer root);

/*
 * Calls each(ra, arg) for every row whose key equals key in a btree index
 * leading with that column, or, with an invalid index, for every row of the
 * table; stops early when each returns false.
 */
typedef bool (*RowAccessEach)(RowAccess *ra, void *arg);
extern void row_access_scan(RowAccess *ra, Oid index, RegProcedure eq, Datum key,
							RowAccessEach each, void *arg);

/* Like row_access_scan, with scan keys on the index's columns (ScanKeyInit). */
extern void row_access_scan_keys(RowAccess *ra, Oid index, ScanKey keys, int nkeys,
								 RowAccessEach each, void *arg);

/*
 * Locks the found row FOR NO KEY UPDATE.  In READ COMMITTED the latest
 * version is locked (and is then in the slot; callers re-check it); with a
 * transaction snapshot a row changed or deleted since gives ROW_CHANGED.
 */
extern RowLock row_access_lock(RowAccess *ra, LockWaitPolicy wait);

/*
 * Locks the found row, waiting if needed, as an UPDATE statement would:
 * false if it was deleted meanwhile, a serialization failure if it changed
 * since the transaction's snapshot.
 */
extern bool row_access_lock_for_change(RowAccess *ra);

/* Columns of the found row. */
extern Datum row_access_get(RowAccess *ra, AttrNumber att, bool *isnull);
extern bool row_access_get_bool(RowAccess *ra, AttrNumber att, bool if_null);
extern bool row_access_get_timestamptz(RowAccess *ra, AttrNumber att, TimestampTz *value);
extern bool row_access_uuid_equals(RowAccess *ra, AttrNumber att, Datum value);
/* A copy of a uuid column, or (Datum) 0 if NULL. */
extern Datum row_access_copy_uuid(RowAccess *ra, AttrNumber att);

/* Replaces columns of the locked row. */
extern void row_access_update(RowAccess *ra, int ncolumns, const AttrNumber *columns,
							  const Datum *values, const bool *nulls);

/* Deletes the locked row. */
extern void row_access_delete(RowAccess *ra);

/*
 * A new row: every column starts with its default, as INSERT computes it;
 * the caller sets columns with row_access_set, then inserts.
 */
extern TupleTableSlot *row_access_new_row(RowAccess *ra);
extern void row_access_set(TupleTableSlot *slot, AttrNumber att, Datum value, bool isnull);
extern void row_access_insert(RowAccess *ra, TupleTableSlot *slot);

#endif /* API_TOKENS_ROW_ACCESS_H */
