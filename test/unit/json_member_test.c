/*
 * json_member_test.c
 *		Unit tests of json_member (src/json_member.c): a table of documents
 *		with what Python's json module makes of them, then a round trip of
 *		random objects through an encoder written here.
 *
 * The table's answers were checked with Python 3:
 *   json.loads(doc) is a dict  ->  readable, and dict.get(name) is the value
 *   (a document Python reads but that has the name twice counts as
 *   unreadable here, on purpose: which value counts is ambiguous)
 *
 * Build and run (or test/scripts/unit_and_fuzz.sh):
 *   cc -O2 -g -Wall -Wextra -Werror -Isrc -o /tmp/j test/unit/json_member_test.c \
 *       src/json_member.c && /tmp/j
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "token/json_member.h"

static int checks = 0;
static int failures = 0;

/* Prints at most the first few failures. */
#define REPORT(...) (failures++ < 20 ? (void) fprintf(stderr, __VA_ARGS__) : (void) 0)

typedef struct Case
{
	const char *doc;
	const char *name;
	JsonMemberResult result;
	const char *value; /* for JSON_MEMBER_ASCII */
} Case;

static const Case cases[] = {
	/* Found, absent, empty. */
	{"{\"x-api-key\": \"pat_abc\"}", "x-api-key", JSON_MEMBER_ASCII, "pat_abc"},
	{"{\"accept\": \"*/*\"}", "x-api-key", JSON_MEMBER_ABSENT, NULL},
	{"{}", "x-api-key", JSON_MEMBER_ABSENT, NULL},
	{" \t\r\n{ } \n", "a", JSON_MEMBER_ABSENT, NULL},
	{"{\"a\":\"\"}", "a", JSON_MEMBER_ASCII, ""},
	/* Names compared once decoded, exactly. */
	{"{\"x-api-\\u006bey\": \"t\"}", "x-api-key", JSON_MEMBER_ASCII, "t"},
	{"{\"X-API-KEY\": \"t\"}", "x-api-key", JSON_MEMBER_ABSENT, NULL},
	{"{\"x-api-key2\": \"t\"}", "x-api-key", JSON_MEMBER_ABSENT, NULL},
	{"{\"x-api-ke\": \"t\"}", "x-api-key", JSON_MEMBER_ABSENT, NULL},
	{"{\"x-api-key\\u0000\": \"t\"}", "x-api-key", JSON_MEMBER_ABSENT, NULL},
	/* Escapes in the value. */
	{"{\"a\": \"\\u0070at\\/\\\\\\\"\"}", "a", JSON_MEMBER_ASCII, "pat/\\\""},
	{"{\"a\": \"\\t\\n\\r\\b\\f\"}", "a", JSON_MEMBER_ASCII, "\t\n\r\b\f"},
	/* Beyond ASCII: present, not a token's. */
	{"{\"a\": \"caf\\u00e9\"}", "a", JSON_MEMBER_NOT_ASCII, NULL},
	{"{\"a\": \"caf\xc3\xa9\"}", "a", JSON_MEMBER_NOT_ASCII, NULL},
	{"{\"a\": \"\\ud800\"}", "a", JSON_MEMBER_NOT_ASCII, NULL},
	{"{\"a\": \"\\u0000\"}", "a", JSON_MEMBER_NOT_ASCII, NULL},
	/* Other headers may hold anything valid without harm. */
	{"{\"ua\": \"\\u4e2d\\u6587\", \"a\": \"t\"}", "a", JSON_MEMBER_ASCII, "t"},
	{"{\"ua\": \"\xe4\xb8\xad\", \"a\": \"t\", \"b\": [1, {\"c\": null}]}", "a", JSON_MEMBER_ASCII,
	 "t"},
	/* Not a string. */
	{"{\"a\": 1}", "a", JSON_MEMBER_NOT_ASCII, NULL},
	{"{\"a\": [\"t\"]}", "a", JSON_MEMBER_NOT_ASCII, NULL},
	{"{\"a\": {\"b\": \"t\"}}", "a", JSON_MEMBER_NOT_ASCII, NULL},
	{"{\"a\": null}", "a", JSON_MEMBER_NOT_ASCII, NULL},
	{"{\"a\": true, \"b\": false}", "a", JSON_MEMBER_NOT_ASCII, NULL},
	/* Numbers, as JSON has them. */
	{"{\"n\": -0.5e+10, \"a\": \"t\"}", "a", JSON_MEMBER_ASCII, "t"},
	{"{\"n\": 0, \"a\": \"t\"}", "a", JSON_MEMBER_ASCII, "t"},
	{"{\"n\": 01, \"a\": \"t\"}", "a", JSON_MEMBER_UNREADABLE, NULL},
	{"{\"n\": 1., \"a\": \"t\"}", "a", JSON_MEMBER_UNREADABLE, NULL},
	{"{\"n\": .5, \"a\": \"t\"}", "a", JSON_MEMBER_UNREADABLE, NULL},
	{"{\"n\": 1e, \"a\": \"t\"}", "a", JSON_MEMBER_UNREADABLE, NULL},
	{"{\"n\": -, \"a\": \"t\"}", "a", JSON_MEMBER_UNREADABLE, NULL},
	/* Twice: ambiguous. */
	{"{\"a\": \"t\", \"a\": \"u\"}", "a", JSON_MEMBER_UNREADABLE, NULL},
	{"{\"a\": \"t\", \"\\u0061\": 1}", "a", JSON_MEMBER_UNREADABLE, NULL},
	/* Not one JSON object. */
	{"", "a", JSON_MEMBER_UNREADABLE, NULL},
	{"not json", "a", JSON_MEMBER_UNREADABLE, NULL},
	{"[\"a\"]", "a", JSON_MEMBER_UNREADABLE, NULL},
	{"\"a\"", "a", JSON_MEMBER_UNREADABLE, NULL},
	{"{\"a\": \"t\"", "a", JSON_MEMBER_UNREADABLE, NULL},
	{"{\"a\": \"t}", "a", JSON_MEMBER_UNREADABLE, NULL},
	{"{\"a\" \"t\"}", "a", JSON_MEMBER_UNREADABLE, NULL},
	{"{\"a\": \"t\",}", "a", JSON_MEMBER_UNREADABLE, NULL},
	{"{,\"a\": \"t\"}", "a", JSON_MEMBER_UNREADABLE, NULL},
	{"{\"a\": \"t\"} {}", "a", JSON_MEMBER_UNREADABLE, NULL},
	{"{\"a\": \"t\"} x", "a", JSON_MEMBER_UNREADABLE, NULL},
	{"{a: \"t\"}", "a", JSON_MEMBER_UNREADABLE, NULL},
	{"{'a': 't'}", "a", JSON_MEMBER_UNREADABLE, NULL},
	{"{\"a\": \"tab\there\"}", "a", JSON_MEMBER_UNREADABLE, NULL},
	{"{\"a\": \"\\x41\"}", "a", JSON_MEMBER_UNREADABLE, NULL},
	{"{\"a\": \"\\u00g0\"}", "a", JSON_MEMBER_UNREADABLE, NULL},
	{"{\"a\": \"\\u00\"}", "a", JSON_MEMBER_UNREADABLE, NULL},
	{"{\"a\": \"t\\", "a", JSON_MEMBER_UNREADABLE, NULL},
	{"{\"b\": [1, 2}, \"a\": \"t\"}", "a", JSON_MEMBER_UNREADABLE, NULL},
	{"{\"b\": tru, \"a\": \"t\"}", "a", JSON_MEMBER_UNREADABLE, NULL},
	{"{\"b\": nulll, \"a\": \"t\"}", "a", JSON_MEMBER_UNREADABLE, NULL},
	/* Found early, broken later: the whole document counts. */
	{"{\"a\": \"t\", \"b\": }", "a", JSON_MEMBER_UNREADABLE, NULL},
};

static void
check_case(const Case *c)
{
	size_t len = strlen(c->doc);
	/* Exactly sized, so that AddressSanitizer sees any read or write past it. */
	char *doc = malloc(len ? len : 1);
	char *out = malloc(len ? len : 1);
	size_t out_len = 12345;
	JsonMemberResult got;

	memcpy(doc, c->doc, len);
	got = json_member(doc, len, c->name, out, &out_len);
	checks++;
	if (got != c->result)
	{
		REPORT("json_member(%s, %s): got %d, expected %d\n", c->doc, c->name, got, c->result);
	}
	else if (got == JSON_MEMBER_ASCII &&
			 (out_len != strlen(c->value) || memcmp(out, c->value, out_len) != 0))
	{
		REPORT("json_member(%s, %s): got value \"%.*s\", expected \"%s\"\n", c->doc, c->name,
			   (int) out_len, out, c->value);
	}
	else if (got != JSON_MEMBER_ASCII && out_len != 0)
	{
		REPORT("json_member(%s, %s): out_len %zu without a value\n", c->doc, c->name, out_len);
	}
	free(doc);
	free(out);
}

/* A small deterministic generator (xorshift), so that failures replay. */
static uint64_t state = 88172645463325252ULL;

static uint32_t
next_random(void)
{
	state ^= state << 13;
	state ^= state >> 7;
	state ^= state << 17;
	return (uint32_t) state;
}

/* Appends s, JSON-encoded, escaping every character with probability 1/4. */
static size_t
encode_string(char *buf, size_t at, const char *s, size_t len)
{
	buf[at++] = '"';
	for (size_t i = 0; i < len; i++)
	{
		unsigned char c = (unsigned char) s[i];

		if (c == '"' || c == '\\' || c < 0x20 || next_random() % 4 == 0)
			at += (size_t) sprintf(buf + at, "\\u%04x", c);
		else
			buf[at++] = (char) c;
	}
	buf[at++] = '"';
	return at;
}

/*
 * Round trip: an object of random ASCII members, with blanks and nested
 * values between them, encoded here; every member must be found with its
 * value, and a name not in it must be absent.
 */
static void
round_trips(int rounds)
{
	char names[8][16];
	char values[8][64];
	size_t value_lens[8];
	char buf[8192];
	char out[8192];

	for (int round = 0; round < rounds; round++)
	{
		int members = (int) (next_random() % 8);
		size_t at = 0;

		buf[at++] = '{';
		for (int m = 0; m < members; m++)
		{
			snprintf(names[m], sizeof(names[m]), "name-%d-%u", m, next_random() % 1000);
			value_lens[m] = next_random() % sizeof(values[m]);
			for (size_t i = 0; i < value_lens[m]; i++)
				values[m][i] = (char) (1 + next_random() % 127);
			if (m > 0)
				buf[at++] = ',';
			if (next_random() % 2)
				at += (size_t) sprintf(buf + at, " \n\t");
			/* Sometimes a member with nested values before it. */
			if (next_random() % 3 == 0)
				at += (size_t) sprintf(
					buf + at, "\"pad-%d\": [1, -2.5e3, {\"k\": [true, null]}, \"x\"], ", m);
			at = encode_string(buf, at, names[m], strlen(names[m]));
			buf[at++] = ':';
			at = encode_string(buf, at, values[m], value_lens[m]);
		}
		buf[at++] = '}';
		for (int m = 0; m < members; m++)
		{
			size_t out_len;
			JsonMemberResult got = json_member(buf, at, names[m], out, &out_len);

			checks++;
			if (got != JSON_MEMBER_ASCII || out_len != value_lens[m] ||
				memcmp(out, values[m], out_len) != 0)
			{
				REPORT("round trip %d: member %s of %.*s: got %d\n", round, names[m], (int) at, buf,
					   got);
			}
		}
		{
			size_t out_len;

			checks++;
			if (json_member(buf, at, "absent", out, &out_len) != JSON_MEMBER_ABSENT)
			{
				REPORT("round trip %d: a name not in %.*s was found\n", round, (int) at, buf);
			}
		}
	}
}

/* Nesting up to the limit is read; beyond it, refused. */
static void
depth_limit(void)
{
	char buf[1024];
	size_t out_len;

	for (int depth = JSON_MEMBER_MAX_DEPTH - 1; depth <= JSON_MEMBER_MAX_DEPTH; depth++)
	{
		size_t at = 0;

		at += (size_t) sprintf(buf, "{\"a\": \"t\", \"b\": ");
		for (int i = 0; i < depth; i++)
			buf[at++] = '[';
		for (int i = 0; i < depth; i++)
			buf[at++] = ']';
		buf[at++] = '}';
		checks++;
		if (json_member(buf, at, "a", buf + 512, &out_len) !=
			(depth < JSON_MEMBER_MAX_DEPTH ? JSON_MEMBER_ASCII : JSON_MEMBER_UNREADABLE))
		{
			REPORT("depth %d: wrong answer\n", depth);
		}
	}
}

int
main(void)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		check_case(&cases[i]);
	round_trips(2000);
	depth_limit();
	if (failures)
	{
		fprintf(stderr, "json_member_test: %d of %d checks failed\n", failures, checks);
		return 1;
	}
	printf("json_member_test: all %d checks passed\n", checks);
	return 0;
}
