/*
 * base62.h
 *		Base62 with the alphabet 0-9A-Za-z, in that order (no PostgreSQL headers).
 */
#ifndef API_TOKENS_BASE62_H
#define API_TOKENS_BASE62_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The 62 digits, in order (followed by a NUL, unused). */
extern const char base62_alphabet[63];

/* Value of c in the alphabet, or -1 if c is not a base62 digit. */
extern int base62_digit_value(unsigned char c);

/*
 * Writes value as exactly width base62 digits, most significant first,
 * left-padded with '0'.  Returns false if value needs more than width digits.
 */
extern bool base62_encode_u32(uint32_t value, char *out, size_t width);

/*
 * Maps random bytes to base62 digits without modulo bias: a byte is used only
 * if it is below 248 (= 4 * 62), and then gives byte % 62.  Consumes bytes
 * from in until out_len digits are written or in is exhausted; returns the
 * number of digits written.
 */
extern size_t base62_from_random_bytes(const uint8_t *in, size_t in_len, char *out, size_t out_len);

#endif /* API_TOKENS_BASE62_H */
