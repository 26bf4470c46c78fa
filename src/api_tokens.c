/*
 * api_tokens.c
 *		Module entry point: settings, shared memory and the background
 *		worker when preloaded, and the backend-local callbacks.
 */
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "storage/ipc.h"

#include "context.h"
#include "ext_tables.h"
#include "last_used.h"
#include "reuse.h"
#include "settings.h"
#include "token_table.h"
#include "uses.h"
#include "worker.h"

PG_MODULE_MAGIC;

void _PG_init(void);

static shmem_request_hook_type previous_shmem_request_hook = NULL;
static shmem_startup_hook_type previous_shmem_startup_hook = NULL;

static void
request_shmem(void)
{
	if (previous_shmem_request_hook)
		previous_shmem_request_hook();
	uses_shmem_request();
}

static void
start_shmem(void)
{
	if (previous_shmem_startup_hook)
		previous_shmem_startup_hook();
	uses_shmem_startup();
}

void
_PG_init(void)
{
	settings_define(process_shared_preload_libraries_in_progress);

	/* Recorded uses and the worker that writes them need shared memory. */
	if (process_shared_preload_libraries_in_progress)
	{
		previous_shmem_request_hook = shmem_request_hook;
		shmem_request_hook = request_shmem;
		previous_shmem_startup_hook = shmem_startup_hook;
		shmem_startup_hook = start_shmem;
		worker_register_launcher();
	}

	token_table_init();
	ext_tables_init();
	last_used_init();
	reuse_init();
	context_init();
}
