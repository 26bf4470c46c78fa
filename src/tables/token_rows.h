/*
 * token_rows.h
 *		Rows of the api_tokens table, by OID (see row_access.h): opening the
 *		trusted table, finding tokens by id, hash or user, inserting one.
 */
#ifndef API_TOKENS_TOKEN_ROWS_H
#define API_TOKENS_TOKEN_ROWS_H

#include "postgres.h"

#include "utils/array.h"

#include "tables/catalog.h"
#include "tables/row_access.h"

typedef struct TokenRows
{
	const TokenTable *table;
	RowAccess ra;
} TokenRows;

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
 * Opens the api_tokens table of schema nspoid, after token_table's checks;
 * for writing, locks it in ROW EXCLUSIVE mode, and changes run as its owner.
 */
extern TokenRows *token_rows_open(Oid nspoid, bool for_write);

/* As token_rows_open for writing, but NULL if that would wait for a lock. */
extern TokenRows *token_rows_try_open_for_write(Oid nspoid);

/* Fires the queued foreign-key checks (for writes), then releases everything. */
extern void token_rows_close(TokenRows *rows);

/* Finds the row with this id, or token_hash; true if found (in rows->ra.slot). */
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

/* Inserts a token; returns its id.  No error message shows the token's hash. */
extern Datum token_rows_insert(TokenRows *rows, const NewTokenRow *row);

#endif /* API_TOKENS_TOKEN_ROWS_H */
