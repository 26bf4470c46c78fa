/*
 * limit_check.c
 *		Applying a token's limits (api_token_limits, since 1.2) to a
 *		validation: the address allowlist, the rate limit and credits.
 *
 * Unkey's order: the address first (a client that may not use the token
 * learns nothing more), then the rate limit, then the credits, so that a
 * request refused for its rate spends none.  With the library preloaded,
 * rates and credits are counted in shared memory (engine/limit_table.c)
 * and nothing is written per request; without it, a rate limit cannot be
 * counted (an error says so) and credits are spent in the token's row, in
 * the validating transaction, which must then be able to write.
 */
#include "postgres.h"

#include "access/xlog.h"
#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "tcop/utility.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/inet.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#include "api/limit_check.h"
#include "compat.h"
#include "engine/limit_table.h"
#include "tables/catalog.h"
#include "tables/limit_rows.h"

/* Most entries an allowlist may have (the table's CHECK says the same). */
#define MAX_ALLOWED_ADDRESSES 1000

compat_noreturn static void refuse_invalid(Datum token_id) compat_noreturn_attr;

static void
refuse_invalid(Datum token_id)
{
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("the limits of token %s are invalid",
					DatumGetCString(DirectFunctionCall1(uuid_out, token_id))),
			 errdetail("Its api_token_limits row holds a value the table's checks forbid; the "
					   "token is refused until the limits are set again."),
			 errhint("Set them with api_token_set_rate_limit, api_token_set_credits or "
					 "api_token_set_allowed_addresses.")));
}

/* True if one of the allowlist's networks holds the address. */
static bool
address_allowed(Datum token_id, ArrayType *allowed, Datum address)
{
	Datum *networks;
	bool *nulls;
	int n;

	if (ARR_NDIM(allowed) > 1 || ARR_ELEMTYPE(allowed) != CIDROID)
		refuse_invalid(token_id);
	deconstruct_array(allowed, CIDROID, -1, false, TYPALIGN_INT, &networks, &nulls, &n);
	if (n > MAX_ALLOWED_ADDRESSES)
		refuse_invalid(token_id);
	for (int i = 0; i < n; i++)
		if (!nulls[i] && DatumGetBool(DirectFunctionCall2(network_supeq, networks[i], address)))
			return true;
	return false;
}

/* Seconds to wait, rounded up, at least one. */
static int32
seconds_after(int64 us)
{
	int64 seconds = (us + USECS_PER_SEC - 1) / USECS_PER_SEC;

	return (int32) Max(1, Min(seconds, PG_INT32_MAX));
}

/* The time until the next refill, or -1 when the credits are never refilled. */
static int32
until_refill(const CreditsRow *credits, TimestampTz refilled_at, TimestampTz now)
{
	if (!credits->has_refill)
		return -1;
	return seconds_after(refilled_at + credits->refill_every_us - now);
}

/* Spends the validation's cost; TOKEN_VALID or TOKEN_USAGE_EXCEEDED (or RATE_LIMITED: full). */
static TokenStatus
spend_credits(const ExtTables *tables, const UseKey *key, Datum token_id, const CreditsRow *credits,
			  int32 cost, Validation *out)
{
	TimestampTz now = GetCurrentTimestamp();
	int64 remaining = credits->remaining;
	TimestampTz refilled_at = credits->refilled_at;
	bool allowed;

	if (RecoveryInProgress())
	{
		/* Nothing spent: what the row says, refills counted. */
		if (cost > 0)
			ereport(ERROR, (errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
							errmsg("cannot spend credits on a standby"),
							errhint("Verify tokens with credits on the primary, or with a cost "
									"of 0 to only read what is left.")));
		(void) limit_rows_refill(credits, now, &remaining, &refilled_at);
		allowed = true;
	}
	else if (use_table_enabled())
	{
		LimitOutcome outcome = limit_table_spend(key, credits, cost, now, &remaining, &refilled_at);

		if (outcome == LIMIT_TABLE_FULL)
		{
			out->retry_after = 1;
			return TOKEN_RATE_LIMITED;
		}
		allowed = outcome == LIMIT_ALLOWED;
	}
	else if (cost == 0)
	{
		/* Nothing to spend: the row's balance, refills counted, nothing written. */
		(void) limit_rows_refill(credits, now, &remaining, &refilled_at);
		allowed = true;
	}
	else
	{
		PreventCommandIfReadOnly("spending a token's credits (without the library preloaded)");
		allowed = limit_rows_spend(tables, token_id, cost, now, &remaining, &refilled_at);
	}
	out->credits_remaining = remaining;
	if (allowed)
		return TOKEN_VALID;
	out->retry_after = until_refill(credits, refilled_at, now);
	return TOKEN_USAGE_EXCEEDED;
}

/* The address, then the rate, then the credits. */
static TokenStatus
apply_limits(const ExtTables *tables, const UseKey *key, Datum token_id, const TokenLimits *limits,
			 const ValidationRequest *request, Validation *out)
{
	if (limits->invalid)
		refuse_invalid(token_id);

	if (limits->allowed_addresses != NULL &&
		(!request->has_address ||
		 !address_allowed(token_id, limits->allowed_addresses, request->address)))
		return TOKEN_ADDRESS_DENIED;

	if (limits->has_rate)
	{
		int64 retry_us = 0;

		if (!use_table_enabled())
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("token %s has a rate limit, which only a server with the library "
							"preloaded can count",
							DatumGetCString(DirectFunctionCall1(uuid_out, token_id))),
					 errhint("Add api_tokens to shared_preload_libraries, or remove the limit "
							 "with api_token_set_rate_limit(token_id, NULL, NULL).")));
		if (limit_table_count_request(key, limits->rate_limit, limits->rate_window_us,
									  GetCurrentTimestamp(), &retry_us) != LIMIT_ALLOWED)
		{
			out->retry_after = seconds_after(retry_us);
			return TOKEN_RATE_LIMITED;
		}
	}

	if (limits->has_credits)
		return spend_credits(tables, key, token_id, &limits->credits, request->cost, out);
	return TOKEN_VALID;
}

TokenStatus
limit_check(Oid nspoid, Datum token_id, Snapshot snapshot, const ValidationRequest *request,
			Validation *out)
{
	const ExtTables *tables = ext_tables_of(nspoid);
	TokenLimits limits;
	UseKey key;
	RowHint hint;
	RowHint found;
	TokenStatus status;

	if (!tables->has_limits || !limit_rows_may_exist(tables))
		return TOKEN_VALID;
	memset(&key, 0, sizeof(key));
	key.dboid = MyDatabaseId;
	key.nspoid = nspoid;
	memcpy(key.token_id.data, DatumGetUUIDP(token_id)->data, UUID_LEN);

	/*
	 * With the library preloaded, the shared table remembers where a
	 * limited token's row is: read there, it costs no second index probe.
	 */
	row_hint_clear(&hint);
	if (use_table_enabled())
		limit_table_row_hint(&key, &hint);
	found = hint;
	if (!limit_rows_read(tables, token_id, snapshot, &found, &limits))
	{
		if (ItemPointerIsValid(&hint.root))
			limit_table_note_row(&key, &found);
		return TOKEN_VALID;
	}
	status = apply_limits(tables, &key, token_id, &limits, request, out);
	/* After counting, which adds the token to the shared table. */
	if (use_table_enabled() && !row_hint_equal(&hint, &found))
		limit_table_note_row(&key, &found);
	return status;
}
