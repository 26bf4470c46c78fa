/*
 * hex.h
 *		Lowercase hexadecimal encoding (no PostgreSQL headers).
 */
#ifndef API_TOKENS_HEX_H
#define API_TOKENS_HEX_H

#include <stddef.h>
#include <stdint.h>

/* Writes 2 * len lowercase hex digits of in to out (not NUL-terminated). */
extern void hex_encode_lower(const uint8_t *in, size_t len, char *out);

#endif /* API_TOKENS_HEX_H */
