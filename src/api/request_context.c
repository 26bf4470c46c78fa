/*
 * request_context.c
 *		Which token, and which user, the transaction authenticated with:
 *		api_token_current_user, api_token_current_token,
 *		api_token_current_scopes and api_token_has_scope.
 *
 * The context lives in this backend's memory and is set only by the C
 * code of api_token_authenticate and api_tokens_pre_request: there is no
 * setting, table or function through which a client could write it, so it
 * cannot be forged with SET or set_config().  It ends with the transaction
 * (commit, rollback or PREPARE), so a pooled connection never hands it on,
 * and a rolled-back savepoint takes back what was authenticated inside it.
 *
 * Reading it is cheap: the values sit in the transaction's memory and are
 * returned as they are, never copied or recomputed, so a policy that
 * compares a column with api_token_current_user() costs about what a
 * comparison with a constant costs.
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/memutils.h"
#include "utils/uuid.h"

#include "api/request_context.h"
#include "api/scopes.h"
#include "compat.h"

typedef struct AuthContext
{
	SubTransactionId subxid;	  /* the (sub)transaction that set it */
	bool authenticated;			  /* false: authentication failed, nothing is set */
	Datum token_id;				  /* uuid */
	Datum user_id;				  /* uuid */
	ArrayType *scopes;			  /* text[], never NULL when authenticated */
	struct AuthContext *previous; /* what a rolled-back savepoint returns to */
} AuthContext;

/* The current_context context, in TopTransactionContext; NULL outside one. */
static AuthContext *current_context = NULL;

/* Pushes a context for the current (sub)transaction; token_id 0: unauthenticated. */
static void
push_context(Datum token_id, Datum user_id, ArrayType *scopes)
{
	MemoryContext old = MemoryContextSwitchTo(TopTransactionContext);
	AuthContext *context = palloc0(sizeof(AuthContext));

	context->subxid = GetCurrentSubTransactionId();
	context->previous = current_context;
	context->authenticated = token_id != (Datum) 0;
	if (context->authenticated)
	{
		context->token_id = datumCopy(token_id, false, UUID_LEN);
		context->user_id = datumCopy(user_id, false, UUID_LEN);
		context->scopes = scopes ? DatumGetArrayTypePCopy(PointerGetDatum(scopes))
								 : construct_empty_array(TEXTOID);
	}
	current_context = context;
	MemoryContextSwitchTo(old);
}

void
request_context_set(Datum token_id, Datum user_id, ArrayType *scopes)
{
	Assert(token_id != (Datum) 0 && user_id != (Datum) 0);
	push_context(token_id, user_id, scopes);
}

void
request_context_clear(void)
{
	push_context((Datum) 0, (Datum) 0, NULL);
}

static void
on_transaction_event(XactEvent event, void *arg)
{
	/* The memory goes with TopTransactionContext. */
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT || event == XACT_EVENT_PREPARE ||
		event == XACT_EVENT_PARALLEL_COMMIT || event == XACT_EVENT_PARALLEL_ABORT)
		current_context = NULL;
}

static void
on_subtransaction_event(SubXactEvent event, SubTransactionId sub, SubTransactionId parent,
						void *arg)
{
	AuthContext *c;

	if (event == SUBXACT_EVENT_ABORT_SUB)
	{
		while (current_context != NULL && current_context->subxid == sub)
			current_context = current_context->previous;
	}
	else if (event == SUBXACT_EVENT_COMMIT_SUB)
	{
		for (c = current_context; c != NULL && c->subxid == sub; c = c->previous)
			c->subxid = parent;
	}
}

void
request_context_init(void)
{
	RegisterXactCallback(on_transaction_event, NULL);
	RegisterSubXactCallback(on_subtransaction_event, NULL);
}

/* The authenticated context, or NULL. */
static inline const AuthContext *
authenticated(void)
{
	return current_context != NULL && current_context->authenticated ? current_context : NULL;
}

/* SQL: api_token_current_user() RETURNS uuid */
PG_FUNCTION_INFO_V1(api_token_current_user);
Datum
api_token_current_user(PG_FUNCTION_ARGS)
{
	const AuthContext *c = authenticated();

	if (c == NULL)
		PG_RETURN_NULL();
	PG_RETURN_DATUM(c->user_id);
}

/* SQL: api_token_current_token() RETURNS uuid */
PG_FUNCTION_INFO_V1(api_token_current_token);
Datum
api_token_current_token(PG_FUNCTION_ARGS)
{
	const AuthContext *c = authenticated();

	if (c == NULL)
		PG_RETURN_NULL();
	PG_RETURN_DATUM(c->token_id);
}

/* SQL: api_token_current_scopes() RETURNS text[] */
PG_FUNCTION_INFO_V1(api_token_current_scopes);
Datum
api_token_current_scopes(PG_FUNCTION_ARGS)
{
	const AuthContext *c = authenticated();

	if (c == NULL)
		PG_RETURN_NULL();
	PG_RETURN_ARRAYTYPE_P(c->scopes);
}

/* SQL: api_token_has_scope(scope text) RETURNS boolean */
PG_FUNCTION_INFO_V1(api_token_has_scope);
Datum
api_token_has_scope(PG_FUNCTION_ARGS)
{
	const AuthContext *c = authenticated();
	text *scope;
	ScopeList wanted;
	const char *data;
	int len;

	if (c == NULL || PG_ARGISNULL(0))
		PG_RETURN_BOOL(false);
	scope = PG_GETARG_TEXT_PP(0);
	data = VARDATA_ANY(scope);
	len = VARSIZE_ANY_EXHDR(scope);
	wanted.count = 1;
	wanted.data = &data;
	wanted.len = &len;
	PG_RETURN_BOOL(scopes_has_all(c->scopes, &wanted));
}
