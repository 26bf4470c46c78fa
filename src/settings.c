/*
 * settings.c
 *		The extension's settings (GUCs), their checks, and what happens when
 *		a policy setting from the configuration cannot be used.
 *
 * A setting stored with ALTER DATABASE or ALTER ROLE before the library is
 * loaded is not checked when it is stored; when the library defines it
 * later, or when a session starts with the library preloaded, an invalid
 * value only gives a WARNING and the setting keeps its default.  For a
 * policy (the longest lifetime of a token) that default is "no limit": so
 * such a value is remembered, and the functions the policy governs refuse
 * to run for the rest of the session, rather than run without it.
 */
#include "postgres.h"

#include <limits.h>

#include "libpq-fe.h"
#include "utils/guc.h"

#include "compat.h"
#include "settings.h"
#include "token/token_format.h"

char *api_tokens_brand = NULL;
int api_tokens_last_used_interval = 60;
char *api_tokens_users_table = NULL;
int api_tokens_max_lifetime = 0;
int api_tokens_rotated_reuse = ROTATED_REUSE_REPORT;
char *api_tokens_actor = NULL;
int api_tokens_flush_interval = 10;
int api_tokens_max_tracked_tokens = 100000;
int api_tokens_max_limited_tokens = 10000;
int api_tokens_max_idle = 0;
char *api_tokens_forward_conninfo = NULL;
int api_tokens_forward_timeout = 30;

/* The text of api_tokens.max_lifetime; api_tokens_max_lifetime holds its seconds. */
static char *max_lifetime_text = NULL;
/* A value of api_tokens.max_lifetime from the configuration that was refused. */
static char refused_max_lifetime[64] = "";

/* The same for api_tokens.max_idle. */
static char *max_idle_text = NULL;
static char refused_max_idle[64] = "";

/* The shortest inactivity limit: last_used_at may lag behind by a flush and an interval. */
#define MIN_IDLE_SECONDS 3600

static const struct config_enum_entry rotated_reuse_options[] = {
	{"report", ROTATED_REUSE_REPORT, false},
	{"revoke_family", ROTATED_REUSE_REVOKE_FAMILY, false},
	{NULL, 0, false},
};

/* Longest actor recorded with an event. */
#define ACTOR_MAX_LEN 200

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

/* Seconds in one unit written as a word ("365 days"), or 0 if unknown. */
static int64
seconds_per_word(const char *word, size_t len)
{
	static const struct
	{
		const char *singular;
		int64 seconds;
	} units[] = {{"second", 1}, {"minute", 60}, {"hour", 3600}, {"day", 86400}, {"week", 604800}};

	for (int i = 0; i < (int) lengthof(units); i++)
	{
		size_t n = strlen(units[i].singular);

		if ((len == n || (len == n + 1 && word[n] == 's')) &&
			pg_strncasecmp(word, units[i].singular, n) == 0)
			return units[i].seconds;
	}
	return 0;
}

/*
 * Parses a duration in seconds: a time setting's syntax ("365d", "8760h",
 * "0"), or a number and a word ("365 days", "12 hours").  False if it is
 * neither, negative, or beyond INT_MAX seconds.
 */
static bool
parse_duration(const char *value, int *seconds)
{
	const char *hint = NULL;
	char *end;
	long number;
	int64 unit;

	if (parse_int(value, seconds, GUC_UNIT_S, &hint))
		return *seconds >= 0;
	errno = 0;
	number = strtol(value, &end, 10);
	if (end == value || errno != 0 || number < 0)
		return false;
	while (*end == ' ')
		end++;
	unit = seconds_per_word(end, strcspn(end, " "));
	end += strcspn(end, " ");
	while (*end == ' ')
		end++;
	if (unit == 0 || *end != '\0' || (int64) number > INT_MAX / unit)
		return false;
	*seconds = (int) (number * unit);
	return true;
}

/* True for the sources a session does not choose: the configuration, ALTER DATABASE/ROLE. */
static bool
from_configuration(GucSource source)
{
	return source == PGC_S_FILE || source == PGC_S_GLOBAL || source == PGC_S_DATABASE ||
		   source == PGC_S_USER || source == PGC_S_DATABASE_USER;
}

/*
 * The check of a policy setting given as a duration: 0, or at least
 * min_seconds.  A value from the configuration that has to be refused is
 * kept in refused, so that what the policy governs refuses to run.
 */
static bool
check_policy_duration(char **newval, void **extra, GucSource source, int min_seconds,
					  const char *detail, char *refused, size_t refused_size)
{
	int seconds;
	int *parsed;

	if (*newval == NULL || !parse_duration(*newval, &seconds) ||
		(seconds > 0 && seconds < min_seconds))
	{
		GUC_check_errdetail("%s", detail);
		if (*newval != NULL && from_configuration(source))
			strlcpy(refused, *newval, refused_size);
		return false;
	}
	parsed = compat_guc_malloc(sizeof(int));
	if (parsed == NULL)
		return false;
	*parsed = seconds;
	*extra = parsed;
	return true;
}

static bool
check_max_lifetime(char **newval, void **extra, GucSource source)
{
	return check_policy_duration(
		newval, extra, source, 0,
		"A lifetime is a duration such as '365d', '8760h' or '365 days', or 0 for no limit.",
		refused_max_lifetime, sizeof(refused_max_lifetime));
}

static void
assign_max_lifetime(const char *newval, void *extra)
{
	api_tokens_max_lifetime = *(int *) extra;
}

static bool
check_max_idle(char **newval, void **extra, GucSource source)
{
	return check_policy_duration(newval, extra, source, MIN_IDLE_SECONDS,
								 "An inactivity limit is a duration of at least an hour, such as "
								 "'90d' or '90 days', or 0 for none.",
								 refused_max_idle, sizeof(refused_max_idle));
}

static void
assign_max_idle(const char *newval, void *extra)
{
	api_tokens_max_idle = *(int *) extra;
}

/* Raises the error for a policy setting whose configured value was refused. */
static void
refuse_policy(const char *name, const char *value, const char *what, const char *example)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("%s has an invalid value: \"%s\"", name, value),
			 errdetail("The value comes from the configuration (postgresql.conf, ALTER "
					   "DATABASE or ALTER ROLE), was ignored with a warning, and no token is "
					   "%s without the policy it sets.",
					   what),
			 errhint("Write it with a unit, for example %s, then start a new session.", example)));
}

void
settings_require_policy(void)
{
	if (refused_max_lifetime[0] != '\0')
		refuse_policy("api_tokens.max_lifetime", refused_max_lifetime, "issued",
					  "'365d' or '365 days'");
}

void
settings_require_idle_policy(void)
{
	if (refused_max_idle[0] != '\0')
		refuse_policy("api_tokens.max_idle", refused_max_idle, "validated", "'90d' or '90 days'");
}

/*
 * A connection string that would keep a password in a setting, which
 * members of pg_read_all_settings may read, is refused; the message does
 * not repeat the value.
 */
static bool
check_forward_conninfo(char **newval, void **extra, GucSource source)
{
	PQconninfoOption *options;
	char *error = NULL;
	bool has_password = false;

	if (*newval == NULL || (*newval)[0] == '\0')
		return true;
	options = PQconninfoParse(*newval, &error);
	if (options == NULL)
	{
		if (error)
			PQfreemem(error);
		GUC_check_errmsg("api_tokens.forward_conninfo is not a valid connection string");
		return false;
	}
	for (PQconninfoOption *option = options; option->keyword != NULL; option++)
		if (strcmp(option->keyword, "password") == 0 && option->val != NULL &&
			option->val[0] != '\0')
			has_password = true;
	PQconninfoFree(options);
	if (has_password)
	{
		GUC_check_errmsg("api_tokens.forward_conninfo must not contain a password");
		GUC_check_errdetail("Members of pg_read_all_settings can read the setting.");
		GUC_check_errhint("Put the password in a password file (the passfile keyword, or "
						  "~/.pgpass of the server's operating-system user).");
		return false;
	}
	return true;
}

void
settings_define(bool preloading)
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

	DefineCustomStringVariable(
		"api_tokens.max_lifetime", "Longest lifetime of a new token; 0 for no limit.",
		"Tokens created or rotated get at most this lifetime, and this one when none is given; "
		"for example '365d' or '365 days'.",
		&max_lifetime_text, "0", PGC_SUSET, 0, check_max_lifetime, assign_max_lifetime, NULL);

	DefineCustomStringVariable(
		"api_tokens.max_idle", "Longest time a token may go unused; 0 for no limit.",
		"A token unused (or, never used, created) longer ago validates as inactive; at least "
		"an hour, for example '90d' or '90 days'.",
		&max_idle_text, "0", PGC_SUSET, 0, check_max_idle, assign_max_idle, NULL);

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
		"Empty: the standby's primary_conninfo; the database is the one the uses belong to. "
		"No password: use a password file.",
		&api_tokens_forward_conninfo, "", PGC_SIGHUP, GUC_SUPERUSER_ONLY, check_forward_conninfo,
		NULL, NULL);

	DefineCustomIntVariable(
		"api_tokens.forward_timeout",
		"Time a standby waits for the primary to connect or to answer one call.",
		"Then it gives up, keeps the uses and tries again at the next flush.",
		&api_tokens_forward_timeout, 30, 1, 3600, PGC_SIGHUP, GUC_UNIT_S, NULL, NULL, NULL);

	/* A setting of the postmaster can only be defined while preloading. */
	if (preloading)
	{
		DefineCustomIntVariable(
			"api_tokens.max_tracked_tokens",
			"Tokens whose uses shared memory holds between writes.",
			"When full, uses of further tokens are dropped until the next write.",
			&api_tokens_max_tracked_tokens, 100000, 100, 10000000, PGC_POSTMASTER, 0, NULL, NULL,
			NULL);
		DefineCustomIntVariable(
			"api_tokens.max_limited_tokens",
			"Tokens with a rate limit or credits whose counts shared memory holds at once.",
			"When full, a limited token that finds no room is refused (rate_limited) until "
			"windows end and spent credits are written.",
			&api_tokens_max_limited_tokens, 10000, 100, 10000000, PGC_POSTMASTER, 0, NULL, NULL,
			NULL);
	}

	MarkGUCPrefixReserved("api_tokens");
}
