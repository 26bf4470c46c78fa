/*
 * api_tokens.c
 *		Module entry point: configuration parameters.
 */
#include "postgres.h"

#include <limits.h>

#include "fmgr.h"
#include "utils/guc.h"

#include "last_used.h"
#include "settings.h"
#include "token_format.h"
#include "token_table.h"

PG_MODULE_MAGIC;

char *api_tokens_brand = NULL;
int api_tokens_last_used_interval = 60;
char *api_tokens_users_table = NULL;

void _PG_init(void);

/* Rejects brands that would make tokens scanners cannot recognise. */
static bool
check_brand(char **newval, void **extra, GucSource source)
{
	if (*newval == NULL || !token_brand_is_valid(*newval, strlen(*newval)))
	{
		GUC_check_errdetail("A brand is 1 to 10 characters from [a-z0-9].");
		return false;
	}
	return true;
}

void
_PG_init(void)
{
	DefineCustomStringVariable(
		"api_tokens.brand", "Prefix of newly generated tokens.",
		"1 to 10 characters from [a-z0-9]; tokens are <brand>_<36 base62 characters>.",
		&api_tokens_brand, "pat", PGC_USERSET, 0, check_brand, NULL, NULL);

	DefineCustomIntVariable("api_tokens.last_used_interval",
							"Minimum time between two last_used_at writes for one token.",
							"0 records every successful validation.",
							&api_tokens_last_used_interval, 60, 0, INT_MAX, PGC_SUSET, GUC_UNIT_S,
							NULL, NULL, NULL);

	DefineCustomStringVariable(
		"api_tokens.users_table",
		"Table that api_tokens.user_id refers to, read when the extension is installed.",
		"An unqualified name is looked up in the extension's schema.", &api_tokens_users_table,
		"users", PGC_SUSET, 0, NULL, NULL, NULL);

	MarkGUCPrefixReserved("api_tokens");

	token_table_init();
	last_used_init();
}
