/*
 * token_table.h
 *		Finding the api_tokens table and its token_hash index, cached per
 *		backend and forgotten on any relcache invalidation of either.
 */
#ifndef API_TOKENS_TOKEN_TABLE_H
#define API_TOKENS_TOKEN_TABLE_H

#include "postgres.h"

#include "access/attnum.h"
#include "utils/rel.h"

typedef struct TokenTable
{
	Oid relid;			  /* the api_tokens table */
	Oid hash_index;		  /* unique btree index on token_hash */
	Oid hash_collation;	  /* collation of that index's key */
	char *qualified_name; /* "schema".api_tokens, for SPI statements */
	AttrNumber att_id;
	AttrNumber att_user_id;
	AttrNumber att_scopes;
	AttrNumber att_expires_at;
	AttrNumber att_last_used_at;
	AttrNumber att_is_active;
} TokenTable;

/* Registers the invalidation callback; called once from _PG_init. */
extern void token_table_init(void);

/*
 * Opens the api_tokens table that lives in the schema of function fn_oid,
 * with lockmode, and sets *table to its cached description.  Raises an
 * error if there is no such table or it lacks a unique index on token_hash.
 */
extern Relation token_table_open(Oid fn_oid, LOCKMODE lockmode, const TokenTable **table);

#endif /* API_TOKENS_TOKEN_TABLE_H */
