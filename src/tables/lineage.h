/*
 * lineage.h
 *		Rotation lineage (api_token_rotations): which token replaced which.
 *
 * Each token has at most one successor and at most one predecessor (unique
 * indexes on both columns), so a lineage is a chain, from the first token
 * issued to the one in use.
 */
#ifndef API_TOKENS_LINEAGE_H
#define API_TOKENS_LINEAGE_H

#include "postgres.h"

#include "nodes/pg_list.h"
#include "utils/timestamp.h"

typedef struct Rotation
{
	Datum predecessor;		   /* uuid: the token rotated out */
	Datum successor;		   /* uuid: the token that replaced it */
	TimestampTz rotated_at;	   /* when */
	TimestampTz grace_ends_at; /* when the predecessor stopped, or stops, working */
} Rotation;

/*
 * True if token_id was rotated out (and fills *rotation).  Always false in
 * a database still at 1.0, which has no lineage.
 */
extern bool lineage_rotated_out(Oid nspoid, Datum token_id, Rotation *rotation);

/* Records a rotation. */
extern void lineage_record(Oid nspoid, const Rotation *rotation);

/*
 * The ids (pg_uuid_t pointers) of the tokens of token_id's lineage: with
 * whole, every token from the first to the last; otherwise only those that
 * descend from token_id.  token_id itself is not in the list.
 */
extern List *lineage_members(Oid nspoid, Datum token_id, bool whole);

/* True if the token id (a uuid Datum) no longer exists. */
typedef bool (*LineageTokenGone)(Datum token_id, void *arg);

/*
 * Forgets the rotations the purged token token_id took part in, each only
 * if the token at its other end is gone too: a living token keeps its
 * place in the lineage.
 */
extern void lineage_forget(Oid nspoid, Datum token_id, LineageTokenGone gone, void *arg);

#endif /* API_TOKENS_LINEAGE_H */
