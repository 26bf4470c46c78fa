/*
 * token_hash.h
 *		SHA-256 of a token as 64 lowercase hex digits.
 */
#ifndef API_TOKENS_TOKEN_HASH_H
#define API_TOKENS_TOKEN_HASH_H

#include "postgres.h"

#define TOKEN_HASH_HEX_LEN 64

/* Writes the lowercase hex SHA-256 of data to out (not NUL-terminated). */
extern void token_sha256_hex(const char *data, size_t len, char out[TOKEN_HASH_HEX_LEN]);

#endif /* API_TOKENS_TOKEN_HASH_H */
