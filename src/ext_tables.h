/*
 * ext_tables.h
 *		The extension's own tables (members, since 1.1): rotation lineage
 *		and events.  Found by OID from the extension's schema; absent in a
 *		database still at 1.0, where the functions behave as in 1.0.
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
	bool present; /* false in a database still at 1.0 */
	RotationsTable rotations;
	EventsTable events;
} ExtTables;

/* Registers the invalidation callbacks; called once from _PG_init. */
extern void ext_tables_init(void);

/* The extension's tables in schema nspoid, checked and cached. */
extern const ExtTables *ext_tables_of(Oid nspoid);

#endif /* API_TOKENS_EXT_TABLES_H */
