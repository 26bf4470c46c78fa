/*
 * rotate.h
 *		Revoking a lineage, for api_token_revoke_family and reuse detection.
 */
#ifndef API_TOKENS_ROTATE_H
#define API_TOKENS_ROTATE_H

#include "postgres.h"

/*
 * Revokes the active tokens of token_id's lineage (whole: all of it, the
 * token included; otherwise only the tokens descended from it), recording
 * revoked events with how.  Returns how many.
 */
extern int rotate_revoke_lineage(Oid nspoid, Datum token_id, bool whole, const char *how);

#endif /* API_TOKENS_ROTATE_H */
