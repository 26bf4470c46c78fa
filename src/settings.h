/*
 * settings.h
 *		The extension's configuration parameters (defined in api_tokens.c).
 */
#ifndef API_TOKENS_SETTINGS_H
#define API_TOKENS_SETTINGS_H

/* api_tokens.brand: the prefix of newly generated tokens. */
extern char *api_tokens_brand;

/* api_tokens.last_used_interval: seconds between last_used_at writes. */
extern int api_tokens_last_used_interval;

/* api_tokens.users_table: the table user_id refers to, read at install. */
extern char *api_tokens_users_table;

#endif /* API_TOKENS_SETTINGS_H */
