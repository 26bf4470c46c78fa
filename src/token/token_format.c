/*
 * token_format.c
 *		Token anatomy: brand, random body and CRC32 checksum.
 */
#include "token/token_format.h"

#include <string.h>
#include <zlib.h>

#include "token/base62.h"

/* Random bytes drawn per round; 30 digits need about 33 bytes on average. */
#define RANDOM_BATCH 48

bool
token_brand_is_valid(const char *brand, size_t len)
{
	if (len < 1 || len > TOKEN_BRAND_MAX_LEN)
		return false;
	for (size_t i = 0; i < len; i++)
	{
		char c = brand[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')))
			return false;
	}
	return true;
}

void
token_checksum(const char *random_part, char out[TOKEN_CHECKSUM_LEN])
{
	uLong crc = crc32(0L, Z_NULL, 0);

	crc = crc32(crc, (const Bytef *) random_part, TOKEN_RANDOM_LEN);
	/* 62^6 > 2^32, so six digits always suffice. */
	(void) base62_encode_u32((uint32_t) crc, out, TOKEN_CHECKSUM_LEN);
}

size_t
token_generate(const char *brand, token_random_fn random_fn, char *out, size_t out_size)
{
	size_t brand_len = strlen(brand);
	size_t token_len = brand_len + 1 + TOKEN_BODY_LEN;
	char *body = out + brand_len + 1;
	size_t filled = 0;
	uint8_t batch[RANDOM_BATCH];

	if (!token_brand_is_valid(brand, brand_len) || out_size < token_len + 1)
		return 0;

	memcpy(out, brand, brand_len);
	out[brand_len] = '_';
	while (filled < TOKEN_RANDOM_LEN)
	{
		if (!random_fn(batch, sizeof(batch)))
		{
			memset(batch, 0, sizeof(batch));
			return 0;
		}
		filled += base62_from_random_bytes(batch, sizeof(batch), body + filled,
										   TOKEN_RANDOM_LEN - filled);
	}
	memset(batch, 0, sizeof(batch));
	token_checksum(body, body + TOKEN_RANDOM_LEN);
	out[token_len] = '\0';
	return token_len;
}

bool
token_is_wellformed(const char *s, size_t len)
{
	size_t brand_len;
	bool ok = true;
	char expected[TOKEN_CHECKSUM_LEN];
	const char *body;

	/* Bounded work whatever the input: longer strings are never read. */
	if (len < 2 + TOKEN_BODY_LEN || len > TOKEN_MAX_LEN)
		return false;

	brand_len = len - 1 - TOKEN_BODY_LEN;
	body = s + brand_len + 1;

	ok &= token_brand_is_valid(s, brand_len);
	ok &= s[brand_len] == '_';
	for (size_t i = 0; i < TOKEN_BODY_LEN; i++)
		ok &= base62_digit_value((unsigned char) body[i]) >= 0;

	token_checksum(body, expected);
	ok &= memcmp(expected, body + TOKEN_RANDOM_LEN, TOKEN_CHECKSUM_LEN) == 0;
	return ok;
}
