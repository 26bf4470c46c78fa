/*
 * pre_request.c
 *		api_tokens_pre_request: authentication for PostgREST's db-pre-request.
 *
 * PostgREST sets the request's headers, as JSON with lowercased names, in
 * the transaction-local setting request.headers, then calls the
 * pre-request function.  A token is taken from "x-api-key: <token>" or
 * "authorization: Bearer <token>"; a bearer value that is a JWT (it has
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
#include "utils/jsonb.h"

#include "context.h"
#include "token_table.h"
#include "validate.h"

#define ERRCODE_POSTGREST_401 MAKE_SQLSTATE('P', 'T', '4', '0', '1')

/* The string value of a header, or NULL (pointing into the Jsonb). */
static const char *
header(Jsonb *headers, const char *name, int *len)
{
	JsonbValue *value;

	if (!JB_ROOT_IS_OBJECT(headers))
		return NULL;
	value = getKeyJsonValueFromContainer(&headers->root, name, strlen(name), NULL);
	if (value == NULL || value->type != jbvString)
		return NULL;
	*len = value->val.string.len;
	return value->val.string.val;
}

/* The token of "Bearer <token>", or NULL for other schemes and for a JWT. */
static const char *
bearer_token(const char *value, int len, int *token_len)
{
	static const char scheme[] = "bearer";
	int i = sizeof(scheme) - 1;

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
	Jsonb *headers;
	const char *token;
	int len = 0;
	ScopeList none = {0, NULL, NULL};
	Validation v;

	if (json == NULL || json[0] == '\0')
		PG_RETURN_VOID();
	headers = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(json)));
	token = header(headers, "x-api-key", &len);
	if (token == NULL)
	{
		int auth_len;
		const char *auth = header(headers, "authorization", &auth_len);

		token = auth ? bearer_token(auth, auth_len, &len) : NULL;
	}
	if (token == NULL)
		PG_RETURN_VOID();

	validation_run(token_table_namespace_of(fcinfo->flinfo->fn_oid),
				   PointerGetDatum(cstring_to_text_with_len(token, len)), false, &none, &v);
	context_authenticated(&v);
	if (strcmp(v.status, "valid") != 0)
		ereport(ERROR, (errcode(ERRCODE_POSTGREST_401), errmsg("invalid API token"),
						errdetail("The token presented is %s.", v.status)));
	PG_RETURN_VOID();
}
