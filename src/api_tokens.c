/*
 * api_tokens.c
 *		Module entry point: configuration parameters.
 */
#include "postgres.h"

#include <limits.h>

#include "fmgr.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "utils/guc.h"

#include "context.h"
#include "ext_tables.h"
#include "last_used.h"
#include "reuse.h"
#include "reuse_queue.h"
#include "settings.h"
#include "token_format.h"
#include "token_table.h"
#include "uses.h"
#include "worker.h"

PG_MODULE_MAGIC;

char *api_tokens_brand = NULL;
int api_tokens_last_used_interval = 60;
char *api_tokens_users_table = NULL;
int api_tokens_max_lifetime = 0;
int api_tokens_rotated_reuse = ROTATED_REUSE_REPORT;
char *api_tokens_actor = NULL;
int api_tokens_flush_interval = 10;
int api_tokens_max_tracked_tokens = 100000;
char *api_tokens_forward_conninfo = NULL;
int api_tokens_forward_timeout = 30;

static shmem_request_hook_type previous_shmem_request_hook = NULL;
static shmem_startup_hook_type previous_shmem_startup_hook = NULL;

static const struct config_enum_entry rotated_reuse_options[] = {
	{"report", ROTATED_REUSE_REPORT, false},
	{"revoke_family", ROTATED_REUSE_REVOKE_FAMILY, false},
	{NULL, 0, false},
};

/* Longest actor recorded with an event. */
#define ACTOR_MAX_LEN 200

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

/* An actor is a short label: no control characters, at most ACTOR_MAX_LEN bytes. */
static bool
check_actor(char **newval, void **extra, GucSource source)
{
	if (*newval == NULL)
		return true;
	if (strlen(*newval) > ACTOR_MAX_LEN)
	{
		GUC_check_errdetail("An actor has at most %d bytes.", ACTOR_MAX_LEN);
		return false;
	}
	for (const unsigned char *c = (const unsigned char *) *newval; *c; c++)
		if (*c < 0x20 || *c == 0x7f)
		{
			GUC_check_errdetail("An actor contains no control characters.");
			return false;
		}
	return true;
}

static void
request_shmem(void)
{
	if (previous_shmem_request_hook)
		previous_shmem_request_hook();
	uses_shmem_request();
	reuse_queue_shmem_request();
}

static void
start_shmem(void)
{
	if (previous_shmem_startup_hook)
		previous_shmem_startup_hook();
	uses_shmem_startup();
	reuse_queue_shmem_startup();
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

	DefineCustomIntVariable(
		"api_tokens.max_lifetime", "Longest lifetime of a new token; 0 for no limit.",
		"Tokens created or rotated get at most this lifetime, and this one when none is given.",
		&api_tokens_max_lifetime, 0, 0, INT_MAX, PGC_SUSET, GUC_UNIT_S, NULL, NULL, NULL);

	DefineCustomEnumVariable(
		"api_tokens.rotated_reuse", "What a use of a token rotated out after its grace does.",
		"report: the status rotated and a reused event; revoke_family: also revoke every "
		"active token descended from it.",
		&api_tokens_rotated_reuse, ROTATED_REUSE_REPORT, rotated_reuse_options, PGC_SUSET, 0, NULL,
		NULL, NULL);

	DefineCustomStringVariable(
		"api_tokens.actor", "Who the application says is acting, recorded with events.",
		"Set it per transaction (SET LOCAL); events also record the database user.",
		&api_tokens_actor, "", PGC_USERSET, 0, check_actor, NULL, NULL);

	DefineCustomIntVariable(
		"api_tokens.flush_interval",
		"Time between two writes of recorded uses by the background worker.",
		"Only with shared_preload_libraries = 'api_tokens'; uses recorded since the last write "
		"are lost if the server crashes.",
		&api_tokens_flush_interval, 10, 1, 3600, PGC_SIGHUP, GUC_UNIT_S, NULL, NULL, NULL);

	DefineCustomStringVariable(
		"api_tokens.forward_conninfo", "Connection string a standby forwards recorded uses with.",
		"Empty: the standby's primary_conninfo; the database is the one the uses belong to.",
		&api_tokens_forward_conninfo, "", PGC_SIGHUP, GUC_SUPERUSER_ONLY, NULL, NULL, NULL);

	DefineCustomIntVariable(
		"api_tokens.forward_timeout",
		"Time a standby waits for the primary to connect or to answer one call.",
		"Then it gives up, keeps the uses and tries again at the next flush.",
		&api_tokens_forward_timeout, 30, 1, 3600, PGC_SIGHUP, GUC_UNIT_S, NULL, NULL, NULL);

	/*
	 * Recorded uses and the worker that writes them need shared memory; a
	 * setting of the postmaster can only be defined now.
	 */
	if (process_shared_preload_libraries_in_progress)
	{
		DefineCustomIntVariable(
			"api_tokens.max_tracked_tokens",
			"Tokens whose uses shared memory holds between writes.",
			"When full, uses of further tokens are dropped until the next write.",
			&api_tokens_max_tracked_tokens, 100000, 100, 10000000, PGC_POSTMASTER, 0, NULL, NULL,
			NULL);
		previous_shmem_request_hook = shmem_request_hook;
		shmem_request_hook = request_shmem;
		previous_shmem_startup_hook = shmem_startup_hook;
		shmem_startup_hook = start_shmem;
		worker_register_launcher();
	}

	MarkGUCPrefixReserved("api_tokens");

	token_table_init();
	ext_tables_init();
	last_used_init();
	reuse_init();
	context_init();
}
