/*
 * pre_request.c
 *		api_tokens_pre_request: authentication for PostgREST's db-pre-request.
 *
 * PostgREST sets the request's headers, as JSON with lowercased names, in
 * the transaction-local setting request.headers, then calls the
 * pre-request function.  The headers are read with json_member.c, which
 * converts nothing but the two headers looked for, so that a header in a
 * character the database encoding lacks does not fail the request.  A token is taken from
 *"x-api-key: <token>" or "authorization: Bearer <token>"; a bearer value that is a JWT (it has
 * dots) is PostgREST's own business and is left alone.  A presented token
 * that is not valid raises SQLSTATE PT401, which PostgREST answers with
 * HTTP 401; no token means an anonymous request: no context, no error.
 * Nothing here writes, so it works in READ ONLY transactions (every GET)
 * and on standbys.
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/guc.h"

#include "api/request_context.h"
#include "api/validate.h"
#include "compat.h"
#include "tables/catalog.h"
#include "token/json_member.h"

#define ERRCODE_POSTGREST_401 MAKE_SQLSTATE('P', 'T', '4', '0', '1')

compat_noreturn static void refuse(const char *detail) compat_noreturn_attr;

/* PT401, which PostgREST answers with HTTP 401; never shows the token. */
static void
refuse(const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_POSTGREST_401), errmsg("invalid API token"), errdetail("%s", detail)));
}

/*
 * The value of a header (a palloc'd buffer), or NULL when it is absent.  A
 * value that cannot be a token's (not a string of ASCII characters) is
 * refused; so is a header object that cannot be read at all (PostgREST
 * writes valid JSON), since a token may be in it.
 */
static char *
header(const char *json, size_t json_len, const char *name, size_t *len)
{
	char *value = palloc(json_len + 1);

	switch (json_member(json, json_len, name, value, len))
	{
		case JSON_MEMBER_ABSENT:
			pfree(value);
			return NULL;
		case JSON_MEMBER_ASCII:
			value[*len] = '\0';
			return value;
		case JSON_MEMBER_NOT_ASCII:
			refuse("The token presented is malformed.");
		case JSON_MEMBER_UNREADABLE:
			break;
	}
	refuse("The request headers are not a JSON object with one value per header.");
}

/* The token of "Bearer <token>", or NULL for other schemes and for a JWT. */
static const char *
bearer_token(const char *value, size_t len, size_t *token_len)
{
	static const char scheme[] = "bearer";
	size_t i = sizeof(scheme) - 1;

	if (len <= i || pg_strncasecmp(value, scheme, i) != 0 || (value[i] != ' ' && value[i] != '\t'))
		return NULL;
	while (i < len && (value[i] == ' ' || value[i] == '\t'))
		i++;
	*token_len = len - i;
	while (*token_len > 0 &&
		   (value[i + *token_len - 1] == ' ' || value[i + *token_len - 1] == '\t'))
		(*token_len)--;
	if (*token_len == 0 || memchr(value + i, '.', *token_len) != NULL)
		return NULL;
	return value + i;
}

/* SQL: api_tokens_pre_request() RETURNS void */
PG_FUNCTION_INFO_V1(api_tokens_pre_request);
Datum
api_tokens_pre_request(PG_FUNCTION_ARGS)
{
	const char *json = GetConfigOption("request.headers", true, false);
	const char *token = NULL;
	size_t len = 0;
	ValidationRequest request;
	Validation v;

	if (json != NULL && json[0] != '\0')
	{
		size_t json_len = strlen(json);

		token = header(json, json_len, "x-api-key", &len);
		if (token == NULL)
		{
			size_t auth_len;
			const char *auth = header(json, json_len, "authorization", &auth_len);

			token = auth ? bearer_token(auth, auth_len, &len) : NULL;
		}
	}
	/* No token: an anonymous request, whatever this transaction authenticated before. */
	if (token == NULL)
	{
		request_context_clear();
		PG_RETURN_VOID();
	}

	/* No address: PostgREST's headers carry none the extension could trust. */
	validation_request_init(&request);
	validate_token(token_table_namespace_of(fcinfo->flinfo->fn_oid),
				   PointerGetDatum(cstring_to_text_with_len(token, (int) len)), false, &request,
				   &v);
	if (v.status != TOKEN_VALID)
	{
		request_context_clear();
		refuse(psprintf("The token presented is %s.", token_status_name(v.status)));
	}
	request_context_set(v.id, v.user_id, v.scopes);
	PG_RETURN_VOID();
}
