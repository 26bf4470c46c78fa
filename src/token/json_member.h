/*
 * json_member.h
 *		Finding one member of a JSON object, such as a header in PostgREST's
 *		request.headers, without a JSON library (no PostgreSQL headers).
 *
 * The server's JSON parser converts every \u escape of the document into
 * the database encoding, and fails on one it cannot represent: a header
 * the extension does not care about would then fail the request.  This
 * scanner checks the whole document's syntax but decodes only the member
 * asked for, and reports a value that is not plain ASCII as such instead of
 * converting it (a token is ASCII).
 */
#ifndef API_TOKENS_JSON_MEMBER_H
#define API_TOKENS_JSON_MEMBER_H

#include <stddef.h>

/* Nesting deeper than this is refused as unreadable. */
#define JSON_MEMBER_MAX_DEPTH 64

typedef enum JsonMemberResult
{
	JSON_MEMBER_ABSENT,	   /* a JSON object without that member */
	JSON_MEMBER_ASCII,	   /* a string of ASCII characters, decoded into out */
	JSON_MEMBER_NOT_ASCII, /* present, but not a string, or not only ASCII characters */
	JSON_MEMBER_UNREADABLE /* not one JSON object, too deep, or the member twice */
} JsonMemberResult;

/*
 * Looks for the member name (compared with the member names once decoded)
 * at the top level of the JSON object in json[0..len).  On
 * JSON_MEMBER_ASCII, the value's characters are in out (room for len bytes
 * is enough; not NUL-terminated) and their count in *out_len.
 */
extern JsonMemberResult json_member(const char *json, size_t len, const char *name, char *out,
									size_t *out_len);

#endif /* API_TOKENS_JSON_MEMBER_H */
