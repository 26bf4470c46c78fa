/*
 * settings.h
 *		The extension's configuration parameters (settings.c).
 */
#ifndef API_TOKENS_SETTINGS_H
#define API_TOKENS_SETTINGS_H

#include "postgres.h"

/* api_tokens.brand: the prefix of newly generated tokens. */
extern char *api_tokens_brand;

/* api_tokens.last_used_interval: seconds between last_used_at writes. */
extern int api_tokens_last_used_interval;

/* api_tokens.users_table: the table user_id refers to, read at install. */
extern char *api_tokens_users_table;

/* api_tokens.max_lifetime: seconds a token may live at most, 0 for no limit. */
extern int api_tokens_max_lifetime;

/*
 * Raises an error if the configuration set a policy setting (max_lifetime)
 * to a value that had to be ignored: what it governs must not run without it.
 */
extern void settings_require_policy(void);
/* The same for api_tokens.max_idle, which validation applies. */
extern void settings_require_idle_policy(void);

/* api_tokens.rotated_reuse: what a use of a rotated-out token does. */
typedef enum RotatedReuse
{
	ROTATED_REUSE_REPORT,		/* the status rotated and a reused event */
	ROTATED_REUSE_REVOKE_FAMILY /* also revoke every active descendant */
} RotatedReuse;
extern int api_tokens_rotated_reuse;

/* api_tokens.actor: who the application says is acting, recorded in events. */
extern char *api_tokens_actor;

/* api_tokens.flush_interval: seconds between the worker's writes of recorded uses. */
extern int api_tokens_flush_interval;

/* api_tokens.max_tracked_tokens: tokens the shared use table holds (preloaded only). */
extern int api_tokens_max_tracked_tokens;

/* api_tokens.max_limited_tokens: tokens the shared limit table holds (preloaded only). */
extern int api_tokens_max_limited_tokens;

/* api_tokens.max_idle: seconds a token may go unused, 0 for no limit. */
extern int api_tokens_max_idle;

/* api_tokens.forward_conninfo: where a standby sends its uses ('' = primary_conninfo). */
extern char *api_tokens_forward_conninfo;

/* api_tokens.forward_timeout: seconds a standby waits for the primary per call. */
extern int api_tokens_forward_timeout;

/* Defines the settings; those of the shared memory only while preloading. */
extern void settings_define(bool preloading);

#endif /* API_TOKENS_SETTINGS_H */
