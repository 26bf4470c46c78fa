/*
 * scopes.c
 *		Scope lists: what callers may pass, and matching.
 *
 * Scopes are exact, case-sensitive strings.  The token's own list comes
 * from the table, which its owner may fill by hand, so matching must stay
 * cheap and cancellable however long that list is: required scopes are
 * bounded, each is looked for once, and the scan checks for interrupts.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/array.h"

#include "api/scopes.h"
#include "compat.h"

/* Checks for interrupts this often while scanning a token's scopes. */
#define SCOPES_PER_INTERRUPT_CHECK 4096

static ScopeList
deconstruct_scopes(ArrayType *array)
{
	ScopeList list = {0, NULL, NULL};
	Datum *elems;
	bool *nulls;

	/* varchar[] and text[] share one layout. */
	deconstruct_array(array, ARR_ELEMTYPE(array), -1, false, TYPALIGN_INT, &elems, &nulls,
					  &list.count);
	list.data = palloc(sizeof(char *) * Max(list.count, 1));
	list.len = palloc(sizeof(int) * Max(list.count, 1));
	for (int i = 0; i < list.count; i++)
	{
		if (nulls[i])
		{
			list.data[i] = NULL;
			list.len[i] = -1;
			continue;
		}
		list.data[i] = VARDATA_ANY(DatumGetPointer(elems[i]));
		list.len[i] = VARSIZE_ANY_EXHDR(DatumGetPointer(elems[i]));
		if (i % SCOPES_PER_INTERRUPT_CHECK == 0)
			CHECK_FOR_INTERRUPTS();
	}
	return list;
}

/* Common checks of a caller's list: dimensions and size, before any copying. */
static void
check_shape(ArrayType *array, const char *what)
{
	if (ARR_NDIM(array) > 1)
		ereport(ERROR, (errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
						errmsg("%s must be a one-dimensional array", what)));
	if (ArrayGetNItems(ARR_NDIM(array), ARR_DIMS(array)) > API_TOKENS_MAX_SCOPES)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED), errmsg("%s has too many elements", what),
				 errdetail("At most %d scopes are allowed.", API_TOKENS_MAX_SCOPES)));
}

ScopeList
scopes_required(ArrayType *required)
{
	ScopeList list;

	check_shape(required, "required_scopes");
	list = deconstruct_scopes(required);
	for (int i = 0; i < list.count; i++)
		if (list.data[i] == NULL)
			ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
							errmsg("required_scopes must not contain NULL")));
	return list;
}

void
scopes_check_new(ArrayType *scopes, int32 max_chars)
{
	ScopeList list;

	check_shape(scopes, "scopes");
	list = deconstruct_scopes(scopes);
	for (int i = 0; i < list.count; i++)
	{
		int chars;

		if (list.data[i] == NULL)
			ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
							errmsg("scopes must not contain NULL")));
		if (list.len[i] == 0)
			ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							errmsg("a scope must not be empty")));
		chars = pg_mbstrlen_with_len(list.data[i], list.len[i]);
		if (max_chars >= 0 && chars > max_chars)
			ereport(ERROR,
					(errcode(ERRCODE_STRING_DATA_RIGHT_TRUNCATION), errmsg("scope is too long"),
					 errdetail("A scope has at most %d characters, not %d.", max_chars, chars)));
	}
}

bool
scopes_has_all(ArrayType *have_array, const ScopeList *required)
{
	ScopeList have;

	if (required->count == 0)
		return true;
	if (have_array == NULL)
		return false;
	have = deconstruct_scopes(have_array);

	for (int r = 0; r < required->count; r++)
	{
		bool matched = false;

		for (int h = 0; h < have.count && !matched; h++)
		{
			if (h % SCOPES_PER_INTERRUPT_CHECK == 0)
				CHECK_FOR_INTERRUPTS();
			matched = have.len[h] == required->len[r] &&
					  memcmp(have.data[h], required->data[r], required->len[r]) == 0;
		}
		if (!matched)
			return false;
	}
	return true;
}
