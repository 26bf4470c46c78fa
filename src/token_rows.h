/*
 * token_rows.h
 *		Reading and changing rows of the api_tokens table by OID, through
 *		the executor's single-row routines (those logical replication uses).
 *
 * No SQL text is ever parsed here: every relation, index and function is
 * reached by OID, so nothing the extension does with its owner's
 * privileges depends on a name that an untrusted schema owner could
 * redirect.  Finds see what a new statement of a VOLATILE function would
 * see: the latest snapshot, including the transaction's own earlier changes.
 */
#ifndef API_TOKENS_TOKEN_ROWS_H
#define API_TOKENS_TOKEN_ROWS_H

#include "postgres.h"

#include "executor/tuptable.h"
#include "nodes/execnodes.h"
#include "nodes/lockoptions.h"
#include "utils/array.h"
#include "utils/relcache.h"
#include "utils/snapshot.h"
#include "utils/timestamp.h"

#include "token_table.h"

typedef struct TokenRows
{
	const TokenTable *table;
	Relation rel;
	Snapshot snapshot;	  /* what finds see */
	TupleTableSlot *slot; /* the row found or locked last */
	bool for_write;
	/* Only when opened for writing: */
	EState *estate;
	ResultRelInfo *result;
	EPQState epq;
	TupleTableSlot *new_slot;
	Oid saved_user;
	int saved_sec_context;
} TokenRows;

/* Outcome of locking a found row. */
typedef enum TokenRowLock
{
	TOKEN_ROW_LOCKED, /* locked; the slot holds the latest version */
	TOKEN_ROW_GONE,	  /* deleted meanwhile */
	TOKEN_ROW_BUSY,	  /* another transaction holds it (only with LockWaitSkip) */
	TOKEN_ROW_CHANGED /* changed since the transaction's snapshot (REPEATABLE READ) */
} TokenRowLock;

/* What a new row gets; the other columns take their defaults. */
typedef struct NewTokenRow
{
	Datum user_id;
	text *name;
	ArrayType *scopes; /* NULL for none */
	bool has_expiry;
	TimestampTz expires_at;
	text *token_hash;
	text *token_prefix;
} NewTokenRow;

/*
 * Opens the api_tokens table of schema nspoid.  For writing, the table is
 * locked in ROW EXCLUSIVE mode and changes run as the table's owner, in a
 * security-restricted operation, as the server's own maintenance does.
 */
extern TokenRows *token_rows_open(Oid nspoid, bool for_write);

/* As token_rows_open for writing, but NULL if that would wait for a lock. */
extern TokenRows *token_rows_try_open_for_write(Oid nspoid);

/* Fires the queued foreign-key checks (for writes), then releases everything. */
extern void token_rows_close(TokenRows *rows);

/* Finds the row with this id, or token_hash; true if found (in rows->slot). */
extern bool token_rows_find_by_id(TokenRows *rows, Datum id);
extern bool token_rows_find_by_hash(TokenRows *rows, text *hash);

/* The ids (pg_uuid_t pointers) of every row of the user. */
extern List *token_rows_ids_of_user(TokenRows *rows, Datum user_id);

/*
 * Sorts a list of ids (pg_uuid_t pointers) and drops duplicates: functions
 * that lock several rows lock them in this order, so that they cannot
 * deadlock with each other.
 */
extern List *token_rows_sort_ids(List *ids);

/*
 * Locks the found row FOR NO KEY UPDATE.  In READ COMMITTED the latest
 * version is locked (and is then in the slot; callers re-check it); with a
 * transaction snapshot (REPEATABLE READ, SERIALIZABLE) a row changed or
 * deleted since the snapshot gives TOKEN_ROW_CHANGED.
 */
extern TokenRowLock token_rows_lock(TokenRows *rows, LockWaitPolicy wait);

/*
 * Locks the found row, waiting if needed, as an UPDATE statement would:
 * false if it was deleted meanwhile, a serialization failure if it changed
 * since the transaction's snapshot.
 */
extern bool token_rows_lock_for_change(TokenRows *rows);

/* A column of the found row. */
extern Datum token_rows_get(TokenRows *rows, AttrNumber att, bool *isnull);

/* A boolean column of the found row, if_null when NULL. */
extern bool token_rows_get_bool(TokenRows *rows, AttrNumber att, bool if_null);

/* A timestamptz column of the found row into *value; false when NULL. */
extern bool token_rows_get_timestamptz(TokenRows *rows, AttrNumber att, TimestampTz *value);

/* True if a uuid column of the found row equals value (NULL never does). */
extern bool token_rows_uuid_equals(TokenRows *rows, AttrNumber att, Datum value);

/* Replaces columns of the locked row. */
extern void token_rows_update(TokenRows *rows, int ncolumns, const AttrNumber *columns,
							  const Datum *values, const bool *nulls);

/* Inserts a token; returns its id.  No error message shows the token's hash. */
extern Datum token_rows_insert(TokenRows *rows, const NewTokenRow *row);

#endif /* API_TOKENS_TOKEN_ROWS_H */
