/*
 * catalog.h
 *		The extension's tables in a schema: api_tokens and the history tables
 *		(api_token_rotations, api_token_events, since 1.1), found by OID from
 *		the namespace of the calling function, checked (rel_checks.h) and
 *		described (columns, indexes).
 *
 * No name is ever resolved through a schema whose owner may be untrusted
 * (who could rename the schema or replace a table).  The descriptions are
 * cached per backend and forgotten on any relevant invalidation.
 */
#ifndef API_TOKENS_CATALOG_H
#define API_TOKENS_CATALOG_H

#include "postgres.h"

#include "access/attnum.h"
#include "storage/lockdefs.h"
#include "utils/relcache.h"

/* Registers the invalidation callbacks; called once from _PG_init. */
extern void catalog_init(void);

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

/* api_token_limits (since 1.2): one row per token with limits. */
typedef struct LimitsTable
{
	Oid relid;
	Oid owner;
	Oid by_token; /* unique index on token_id */
	AttrNumber att_token_id;
	AttrNumber att_rate_limit;
	AttrNumber att_rate_window;
	AttrNumber att_credits;
	AttrNumber att_credits_refill;
	AttrNumber att_credits_refill_every;
	AttrNumber att_credits_refilled_at;
	AttrNumber att_credits_version;
	AttrNumber att_allowed_addresses;
} LimitsTable;

typedef struct ExtTables
{
	Oid namespace;
	bool present; /* false in a database still at 1.0 (or when missing, see below) */
	RotationsTable rotations;
	EventsTable events;
	bool has_limits; /* api_token_limits exists (and is required from 1.2 on) */
	LimitsTable limits;
} ExtTables;

/* True if version ("1.2") is the version major.minor or a later one. */
extern bool catalog_version_at_least(const char *version, int major, int minor);

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

#endif /* API_TOKENS_CATALOG_H */
