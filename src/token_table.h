/*
 * token_table.h
 *		Finding the api_tokens table of an extension schema, checking that it
 *		can be trusted, and describing it (columns, indexes).
 *
 * The table is found by OID, from the namespace OID of the calling
 * function: no name is ever resolved through a schema whose owner may be
 * untrusted (who could rename the schema or replace the table).  The
 * description is cached per backend and forgotten on any relevant
 * invalidation.
 */
#ifndef API_TOKENS_TOKEN_TABLE_H
#define API_TOKENS_TOKEN_TABLE_H

#include "postgres.h"

#include "access/attnum.h"
#include "storage/lockdefs.h"
#include "utils/relcache.h"

typedef struct TokenTable
{
	Oid namespace;		/* the extension's schema */
	Oid relid;			/* the api_tokens table in it */
	Oid owner;			/* its (trusted) owner; writes run as this role */
	Oid hash_index;		/* unique btree index on (token_hash) */
	Oid hash_collation; /* collation of that index's key */
	Oid id_index;		/* unique btree index on (id) */
	Oid user_index;		/* btree index leading with user_id, or InvalidOid */
	AttrNumber att_id;
	AttrNumber att_user_id;
	AttrNumber att_name;
	AttrNumber att_token_hash;
	AttrNumber att_token_prefix;
	AttrNumber att_scopes;
	AttrNumber att_expires_at;
	AttrNumber att_last_used_at;
	AttrNumber att_is_active;
	AttrNumber att_created_at;
	int32 name_max_chars;  /* length limit of name, -1 for none */
	int32 scope_max_chars; /* length limit of each scope, -1 for none */
	char *qualified_name;  /* "schema".api_tokens, for messages */
} TokenTable;

/* Registers the invalidation callbacks; called once from _PG_init. */
extern void token_table_init(void);

/* The schema of a function of this extension, cached. */
extern Oid token_table_namespace_of(Oid fn_oid);

/*
 * Opens the api_tokens table of schema nspoid with lockmode, after checking
 * that it is trustworthy and has the shape the extension needs; sets *table
 * to its description.  Raises an error naming the problem otherwise.
 */
extern Relation token_table_open(Oid nspoid, LOCKMODE lockmode, const TokenTable **table);

/*
 * As token_table_open, but returns NULL instead of waiting when the lock is
 * not free at once, or when the table no longer exists.
 */
extern Relation token_table_try_open(Oid nspoid, LOCKMODE lockmode, const TokenTable **table);

#endif /* API_TOKENS_TOKEN_TABLE_H */
