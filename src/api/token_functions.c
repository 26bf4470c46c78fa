/*
 * token_functions.c
 *		SQL-callable pure functions: generate, hash, prefix, well-formedness.
 *		None of them touches a table.
 */
#include "postgres.h"

#include "access/detoast.h"
#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"

#include "api/token_functions.h"
#include "api/token_hash.h"
#include "compat.h"
#include "settings.h"
#include "token/token_format.h"

/* Adapts pg_strong_random to the pure code's random source type. */
static bool
strong_random(void *buf, size_t len)
{
	return pg_strong_random(buf, len);
}

bool
token_datum_is_wellformed(Datum token)
{
	text *t;
	bool ok;

	/* Decide on the stored length first, so huge values are never detoasted. */
	if (toast_raw_datum_size(token) - VARHDRSZ > TOKEN_MAX_LEN)
		return false;
	t = DatumGetTextPP(token);
	ok = token_is_wellformed(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
	if ((Pointer) t != DatumGetPointer(token))
		pfree(t);
	return ok;
}

text *
token_new(void)
{
	char buf[TOKEN_MAX_LEN + 1];
	size_t len;
	text *result;

	if (!token_brand_is_valid(api_tokens_brand, strlen(api_tokens_brand)))
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("invalid value for parameter \"api_tokens.brand\"")));

	len = token_generate(api_tokens_brand, strong_random, buf, sizeof(buf));
	if (len == 0)
		ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR),
						errmsg("could not generate random bytes for a token")));

	result = cstring_to_text_with_len(buf, len);
	explicit_bzero(buf, sizeof(buf));
	return result;
}

text *
token_hash_text(const text *token)
{
	text *result = (text *) palloc(VARHDRSZ + TOKEN_HASH_HEX_LEN);

	token_sha256_hex(VARDATA_ANY(token), VARSIZE_ANY_EXHDR(token), VARDATA(result));
	SET_VARSIZE(result, VARHDRSZ + TOKEN_HASH_HEX_LEN);
	return result;
}

text *
token_prefix_text(const text *token)
{
	const char *data = VARDATA_ANY(token);
	int len = VARSIZE_ANY_EXHDR(token);

	/* Characters, not bytes, as varchar(8) counts them. */
	len = pg_mbcharcliplen(data, len, TOKEN_PREFIX_LEN);
	return cstring_to_text_with_len(data, len);
}

/* SQL: api_token_generate() RETURNS text */
PG_FUNCTION_INFO_V1(api_token_generate);
Datum
api_token_generate(PG_FUNCTION_ARGS)
{
	PG_RETURN_TEXT_P(token_new());
}

/* SQL: api_token_hash(text) RETURNS text */
PG_FUNCTION_INFO_V1(api_token_hash);
Datum
api_token_hash(PG_FUNCTION_ARGS)
{
	PG_RETURN_TEXT_P(token_hash_text(PG_GETARG_TEXT_PP(0)));
}

/* SQL: api_token_prefix(text) RETURNS text */
PG_FUNCTION_INFO_V1(api_token_prefix);
Datum
api_token_prefix(PG_FUNCTION_ARGS)
{
	PG_RETURN_TEXT_P(token_prefix_text(PG_GETARG_TEXT_PP(0)));
}

/* SQL: api_token_is_wellformed(text) RETURNS boolean */
PG_FUNCTION_INFO_V1(api_token_is_wellformed);
Datum
api_token_is_wellformed(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(token_datum_is_wellformed(PG_GETARG_DATUM(0)));
}
