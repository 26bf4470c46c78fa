/*
 * token_fuzzer.c
 *		libFuzzer harness over the pure token code.  Any invariant that does
 *		not hold aborts, and the sanitizers catch memory errors.
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Isrc \
 *       test/fuzz/token_fuzzer.c src/base62.c src/hex.c src/token_format.c -lz
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base62.h"
#include "hex.h"
#include "token_format.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define REQUIRE(cond)                                                                              \
	do                                                                                             \
	{                                                                                              \
		if (!(cond))                                                                               \
			abort();                                                                               \
	} while (0)

/* Random bytes for token_generate come from the fuzz input. */
static const uint8_t *feed;
static size_t feed_len;

static bool
fed_random(void *buf, size_t len)
{
	if (len > feed_len)
		return false;
	memcpy(buf, feed, len);
	feed += len;
	feed_len -= len;
	return true;
}

static void
check_wellformed(const uint8_t *data, size_t size)
{
	const char *s = (const char *) data;
	char sum[TOKEN_CHECKSUM_LEN];
	size_t brand_len;

	if (!token_is_wellformed(s, size))
		return;
	/* Accepted: every part of the format must hold. */
	REQUIRE(size >= 2 + TOKEN_BODY_LEN && size <= TOKEN_MAX_LEN);
	brand_len = size - 1 - TOKEN_BODY_LEN;
	REQUIRE(token_brand_is_valid(s, brand_len));
	REQUIRE(s[brand_len] == '_');
	for (size_t i = brand_len + 1; i < size; i++)
		REQUIRE(base62_digit_value((unsigned char) s[i]) >= 0);
	token_checksum(s + brand_len + 1, sum);
	REQUIRE(memcmp(sum, s + brand_len + 1 + TOKEN_RANDOM_LEN, TOKEN_CHECKSUM_LEN) == 0);
}

static void
check_base62(const uint8_t *data, size_t size)
{
	char out[64];
	size_t n = base62_from_random_bytes(data, size, out, sizeof(out));
	size_t usable = 0;

	for (size_t i = 0; i < size && usable < sizeof(out); i++)
		usable += data[i] < 248;
	REQUIRE(n == usable);
	for (size_t i = 0; i < n; i++)
		REQUIRE(base62_digit_value((unsigned char) out[i]) >= 0);
}

static void
check_hex(const uint8_t *data, size_t size)
{
	char *hex = malloc(2 * size + 1);

	REQUIRE(hex != NULL);
	hex_encode_lower(data, size, hex);
	for (size_t i = 0; i < size; i++)
	{
		char pair[3] = {hex[2 * i], hex[2 * i + 1], 0};

		REQUIRE(strtoul(pair, NULL, 16) == data[i]);
		REQUIRE((pair[0] >= '0' && pair[0] <= '9') || (pair[0] >= 'a' && pair[0] <= 'f'));
	}
	free(hex);
}

static void
check_generate(const uint8_t *data, size_t size)
{
	char brand[TOKEN_BRAND_MAX_LEN + 2];
	char token[TOKEN_MAX_LEN + 1];
	size_t brand_len, len;

	if (size < 1)
		return;
	/* First byte: brand length (may be invalid), then the brand, then randomness. */
	brand_len = data[0] % (sizeof(brand) - 1);
	if (size < 1 + brand_len)
		return;
	memcpy(brand, data + 1, brand_len);
	brand[brand_len] = '\0';
	feed = data + 1 + brand_len;
	feed_len = size - 1 - brand_len;
	len = token_generate(brand, fed_random, token, sizeof(token));
	if (len == 0)
		return;
	REQUIRE(len == strlen(brand) + 1 + TOKEN_BODY_LEN);
	REQUIRE(token_is_wellformed(token, len));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_wellformed(data, size);
	check_base62(data, size);
	check_hex(data, size);
	check_generate(data, size);
	return 0;
}
