/*
 * json_member.c
 *		One member of a JSON object (RFC 8259), read without converting the
 *		rest of the document (see json_member.h for why).
 *
 * A recursive-descent scanner over the bytes, bounded by the input's length
 * and JSON_MEMBER_MAX_DEPTH; it allocates nothing and never reads past the
 * end of the input.
 */
#include "token/json_member.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct Scanner
{
	const unsigned char *p;
	const unsigned char *end;
} Scanner;

/* Where the characters of a string go: a buffer, a comparison, or nowhere. */
typedef struct Sink
{
	char *out;			/* decoded characters are written here, if not NULL */
	const char *expect; /* or compared with this NUL-terminated string, if not NULL */
	size_t len;			/* characters so far */
	bool matches;		/* equal to expect so far */
	bool ascii;			/* only ASCII characters (and no NUL) so far */
} Sink;

static void
sink_init(Sink *sink, char *out, const char *expect)
{
	sink->out = out;
	sink->expect = expect;
	sink->len = 0;
	sink->matches = true;
	sink->ascii = true;
}

/* One character (a code unit of an escape, or a raw byte). */
static void
sink_put(Sink *sink, uint32_t c)
{
	if (c == 0 || c > 0x7f)
	{
		sink->ascii = false;
		sink->matches = false;
		return;
	}
	if (sink->out != NULL && sink->ascii)
		sink->out[sink->len] = (char) c;
	if (sink->expect != NULL && sink->matches && sink->expect[sink->len] != (char) c)
		sink->matches = false;
	sink->len++;
}

/* True if the string seen equals the expected one, whole. */
static bool
sink_matched(const Sink *sink)
{
	return sink->matches && sink->ascii && sink->expect[sink->len] == '\0';
}

static void
skip_space(Scanner *s)
{
	while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
		s->p++;
}

/* Consumes the byte c if it comes next. */
static bool
accept(Scanner *s, unsigned char c)
{
	if (s->p < s->end && *s->p == c)
	{
		s->p++;
		return true;
	}
	return false;
}

static int
hex_value(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* A string, from its opening quote; its characters go to sink.  False if malformed. */
static bool
read_string(Scanner *s, Sink *sink)
{
	if (!accept(s, '"'))
		return false;
	while (s->p < s->end)
	{
		unsigned char c = *s->p++;

		if (c == '"')
			return true;
		if (c < 0x20)
			return false; /* control characters must be escaped */
		if (c != '\\')
		{
			sink_put(sink, c);
			continue;
		}
		if (s->p == s->end)
			return false;
		c = *s->p++;
		switch (c)
		{
			case '"':
			case '\\':
			case '/':
				sink_put(sink, c);
				break;
			case 'b':
				sink_put(sink, '\b');
				break;
			case 'f':
				sink_put(sink, '\f');
				break;
			case 'n':
				sink_put(sink, '\n');
				break;
			case 'r':
				sink_put(sink, '\r');
				break;
			case 't':
				sink_put(sink, '\t');
				break;
			case 'u':
			{
				uint32_t unit = 0;

				if (s->end - s->p < 4)
					return false;
				for (int i = 0; i < 4; i++)
				{
					int digit = hex_value(*s->p++);

					if (digit < 0)
						return false;
					unit = unit * 16 + (uint32_t) digit;
				}
				/* Anything beyond ASCII (surrogates included) only marks the string. */
				sink_put(sink, unit);
				break;
			}
			default:
				return false;
		}
	}
	return false; /* no closing quote */
}

static bool
skip_digits(Scanner *s)
{
	const unsigned char *start = s->p;

	while (s->p < s->end && *s->p >= '0' && *s->p <= '9')
		s->p++;
	return s->p > start;
}

/* -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
static bool
skip_number(Scanner *s)
{
	(void) accept(s, '-');
	if (!accept(s, '0') && !(s->p < s->end && *s->p >= '1' && *s->p <= '9' && skip_digits(s)))
		return false;
	if (accept(s, '.') && !skip_digits(s))
		return false;
	if (accept(s, 'e') || accept(s, 'E'))
	{
		if (!accept(s, '+'))
			(void) accept(s, '-');
		if (!skip_digits(s))
			return false;
	}
	return true;
}

static bool
skip_word(Scanner *s, const char *word)
{
	for (; *word; word++)
		if (!accept(s, (unsigned char) *word))
			return false;
	return true;
}

static bool skip_value(Scanner *s, int depth);

/* The members or elements of an object or array, after its opening bracket. */
static bool
skip_container(Scanner *s, int depth, bool object)
{
	unsigned char close = object ? '}' : ']';
	Sink none;

	if (depth > JSON_MEMBER_MAX_DEPTH)
		return false;
	skip_space(s);
	if (accept(s, close))
		return true;
	for (;;)
	{
		if (object)
		{
			sink_init(&none, NULL, NULL);
			if (!read_string(s, &none))
				return false;
			skip_space(s);
			if (!accept(s, ':'))
				return false;
		}
		if (!skip_value(s, depth))
			return false;
		skip_space(s);
		if (accept(s, close))
			return true;
		if (!accept(s, ','))
			return false;
		skip_space(s);
	}
}

/* Any value (leading blanks allowed), inside a container of this depth. */
static bool
skip_value(Scanner *s, int depth)
{
	Sink none;

	skip_space(s);
	if (s->p == s->end)
		return false;
	switch (*s->p)
	{
		case '{':
			s->p++;
			return skip_container(s, depth + 1, true);
		case '[':
			s->p++;
			return skip_container(s, depth + 1, false);
		case '"':
			sink_init(&none, NULL, NULL);
			return read_string(s, &none);
		case 't':
			return skip_word(s, "true");
		case 'f':
			return skip_word(s, "false");
		case 'n':
			return skip_word(s, "null");
		default:
			return skip_number(s);
	}
}

/* The scan itself; json_member makes sure *out_len is 0 unless a value was found. */
static JsonMemberResult
scan(const char *json, size_t len, const char *name, char *out, size_t *out_len)
{
	Scanner s = {(const unsigned char *) json, (const unsigned char *) json + len};
	JsonMemberResult result = JSON_MEMBER_ABSENT;

	*out_len = 0;
	skip_space(&s);
	if (!accept(&s, '{'))
		return JSON_MEMBER_UNREADABLE;
	skip_space(&s);
	if (!accept(&s, '}'))
	{
		for (;;)
		{
			Sink key;

			sink_init(&key, NULL, name);
			if (!read_string(&s, &key))
				return JSON_MEMBER_UNREADABLE;
			skip_space(&s);
			if (!accept(&s, ':'))
				return JSON_MEMBER_UNREADABLE;
			skip_space(&s);
			if (!sink_matched(&key))
			{
				if (!skip_value(&s, 1))
					return JSON_MEMBER_UNREADABLE;
			}
			else if (result != JSON_MEMBER_ABSENT)
				return JSON_MEMBER_UNREADABLE; /* twice: which one counts is ambiguous */
			else if (s.p < s.end && *s.p == '"')
			{
				Sink value;

				sink_init(&value, out, NULL);
				if (!read_string(&s, &value))
					return JSON_MEMBER_UNREADABLE;
				result = value.ascii ? JSON_MEMBER_ASCII : JSON_MEMBER_NOT_ASCII;
				*out_len = value.ascii ? value.len : 0;
			}
			else
			{
				if (!skip_value(&s, 1))
					return JSON_MEMBER_UNREADABLE;
				result = JSON_MEMBER_NOT_ASCII;
			}
			skip_space(&s);
			if (accept(&s, '}'))
				break;
			if (!accept(&s, ','))
				return JSON_MEMBER_UNREADABLE;
			skip_space(&s);
		}
	}
	skip_space(&s);
	if (s.p != s.end)
		return JSON_MEMBER_UNREADABLE; /* something after the object */
	return result;
}

JsonMemberResult
json_member(const char *json, size_t len, const char *name, char *out, size_t *out_len)
{
	JsonMemberResult result = scan(json, len, name, out, out_len);

	if (result != JSON_MEMBER_ASCII)
		*out_len = 0;
	return result;
}
