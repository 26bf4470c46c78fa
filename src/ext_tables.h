/*
 * ext_tables.h
 *		The tokens' history tables (since 1.1): rotation lineage and events.
 *		Found in the extension's schema and checked like api_tokens; not
 *		used in a database still at 1.0, where the functions behave as in 1.0.
 */
#ifndef API_TOKENS_EXT_TABLES_H
#define API_TOKENS_EXT_TABLES_H

#include "postgres.h"

#include "access/attnum.h"
#include "storage/lockdefs.h"
#include "utils/relcache.h"

/* api_token_rotations: one row per rotation. */
typedef struct RotationsTable
{
	Oid relid;
	Oid owner;
	Oid by_predecessor; /* unique index on predecessor_id */
	Oid by_successor;	/* unique index on successor_id */
	AttrNumber att_predecessor;
	AttrNumber att_successor;
	AttrNumber att_rotated_at;
	AttrNumber att_grace_ends_at;
} RotationsTable;

/* api_token_events: what happened to tokens, append-only. */
typedef struct EventsTable
{
	Oid relid;
	Oid owner;
	Oid by_token; /* index on (token_id, at) */
	AttrNumber att_id;
	AttrNumber att_at;
	AttrNumber att_token_id;
	AttrNumber att_user_id;
	AttrNumber att_event;
	AttrNumber att_detail;
	AttrNumber att_db_user;
	AttrNumber att_actor;
} EventsTable;

typedef struct ExtTables
{
	Oid namespace;
	bool present; /* false in a database still at 1.0 (or when missing, see below) */
	RotationsTable rotations;
	EventsTable events;
} ExtTables;

/* Registers the invalidation callbacks; called once from _PG_init. */
extern void ext_tables_init(void);

/*
 * The history tables of schema nspoid, checked and cached; not present in a
 * database still at 1.0.  Raises an error if they are missing in a later
 * version, or cannot be trusted.
 */
extern const ExtTables *ext_tables_of(Oid nspoid);

/*
 * Looks the history tables of schema nspoid up and checks those that exist
 * (trust, columns, indexes), raising an error for one that fails; present
 * is true if both exist.  Nothing is cached.
 */
extern void ext_tables_check(Oid nspoid, ExtTables *tables);

#endif /* API_TOKENS_EXT_TABLES_H */
