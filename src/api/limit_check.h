/*
 * limit_check.h
 *		A token's limits, applied to a validation that passed every other
 *		check: address allowlist, then rate limit, then credits (spent last,
 *		so that a refused request costs none).
 */
#ifndef API_TOKENS_LIMIT_CHECK_H
#define API_TOKENS_LIMIT_CHECK_H

#include "postgres.h"

#include "utils/snapshot.h"

#include "api/validate.h"

/*
 * TOKEN_VALID, or the status of the first limit the validation exceeds;
 * sets out->retry_after and out->credits_remaining.  The limits are read
 * with snapshot, the one the token's row was read with.  Nothing is read for
 * a database before 1.2, nor (beyond an index's metapage) while no token
 * of the schema has limits.
 */
extern TokenStatus limit_check(Oid nspoid, Datum token_id, Snapshot snapshot,
							   const ValidationRequest *request, Validation *out);

#endif /* API_TOKENS_LIMIT_CHECK_H */
