/*
 * token_format.h
 *		Pure token logic: format, base62, checksum and hex.
 *
 * Nothing here includes PostgreSQL headers, so the code can be unit-tested
 * and fuzzed on its own (see test/unit and test/fuzz).
 *
 * A token is  <brand> "_" <30 random base62 chars> <6 base62 chars checksum>
 * where brand matches [a-z0-9]{1,10} and the checksum is zlib's CRC32 of the
 * 30 random characters, written in base62 and left-padded with '0'.
 */
#ifndef TOKEN_FORMAT_H
#define TOKEN_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TOKEN_BRAND_MAX_LEN 10
#define TOKEN_RANDOM_LEN 30
#define TOKEN_CHECKSUM_LEN 6
#define TOKEN_BODY_LEN (TOKEN_RANDOM_LEN + TOKEN_CHECKSUM_LEN)
/* Longest well-formed token: brand, separator, body. */
#define TOKEN_MAX_LEN (TOKEN_BRAND_MAX_LEN + 1 + TOKEN_BODY_LEN)
/* Characters of a token kept for display (the token_prefix column). */
#define TOKEN_PREFIX_LEN 8

/* Fills buf with len cryptographically strong random bytes; false on failure. */
typedef bool (*token_random_fn)(void *buf, size_t len);

/* True if brand is 1..10 characters of [a-z0-9]. */
extern bool token_brand_is_valid(const char *brand, size_t len);

/* Writes the 6-character base62 checksum of 30 random characters. */
extern void token_checksum(const char *random_part, char out[TOKEN_CHECKSUM_LEN]);

/*
 * Writes a new token for brand into out (at least TOKEN_MAX_LEN + 1 bytes),
 * NUL-terminated, and returns its length; 0 if the brand is invalid or the
 * random source failed.
 */
extern size_t token_generate(const char *brand, token_random_fn random_fn, char *out,
							 size_t out_size);

/*
 * True if the len bytes at s form a token of any valid brand with a correct
 * checksum.  Inputs longer than TOKEN_MAX_LEN are rejected before reading
 * them; otherwise every byte is examined, so the running time does not
 * depend on where an input first goes wrong.
 */
extern bool token_is_wellformed(const char *s, size_t len);

#endif /* TOKEN_FORMAT_H */
