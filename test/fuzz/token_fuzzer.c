/*
 * token_fuzzer.c
 *		libFuzzer harness over the pure token code.
 *
 * Each input drives six checks; a broken invariant traps, and AddressSanitizer
 * sees any access outside the exactly-sized heap buffers used here.
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -Isrc \
 *       -o /tmp/token_fuzzer test/fuzz/token_fuzzer.c src/base62.c src/hex.c src/token_format.c -lz
 *   mkdir -p test/fuzz/corpus-work
 *   /tmp/token_fuzzer -max_total_time=60 test/fuzz/corpus-work test/fuzz/corpus
 *
 * New inputs go to the first directory only, so keep the committed corpus second.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "token/base62.h"
#include "token/hex.h"
#include "token/token_format.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define REQUIRE(cond)                                                                              \
	do                                                                                             \
	{                                                                                              \
		if (!(cond))                                                                               \
			__builtin_trap();                                                                      \
	} while (0)

static const char alphabet[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

static bool
ref_is_base62(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

static bool
ref_is_brand(const char *s, size_t len)
{
	if (len < 1 || len > 10)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9')))
			return false;
	return true;
}

/* CRC-32 as zlib computes it (reflected, polynomial 0xEDB88320), bit by bit. */
static uint32_t
ref_crc32(const uint8_t *p, size_t len)
{
	uint32_t crc = 0xFFFFFFFFu;

	for (size_t i = 0; i < len; i++)
	{
		crc ^= p[i];
		for (int k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1)));
	}
	return ~crc;
}

/* The checksum of 30 characters: their CRC-32 in six base62 digits. */
static void
ref_checksum(const char *random_part, char out[TOKEN_CHECKSUM_LEN])
{
	uint32_t v = ref_crc32((const uint8_t *) random_part, TOKEN_RANDOM_LEN);

	for (int i = TOKEN_CHECKSUM_LEN - 1; i >= 0; i--)
	{
		out[i] = alphabet[v % 62];
		v /= 62;
	}
}

/* Copies data into a heap block of exactly size bytes, so overreads are caught. */
static char *
exact_copy(const uint8_t *data, size_t size)
{
	char *copy = malloc(size ? size : 1);

	REQUIRE(copy != NULL);
	if (size)
		memcpy(copy, data, size);
	return copy;
}

/*
 * token_is_wellformed agrees, in both directions, with the format spelled out
 * here: 38..47 bytes, brand [a-z0-9]{1,10}, "_", 36 base62 digits whose last 6
 * are the checksum of the first 30.
 */
static void
check_wellformed(const uint8_t *data, size_t size)
{
	char *s = exact_copy(data, size);
	bool expected = false;
	bool actual;

	if (size >= 2 + TOKEN_BODY_LEN && size <= TOKEN_MAX_LEN)
	{
		size_t brand_len = size - 1 - TOKEN_BODY_LEN;
		const char *body = s + brand_len + 1;

		expected = ref_is_brand(s, brand_len) && s[brand_len] == '_';
		for (size_t i = 0; i < TOKEN_BODY_LEN; i++)
			expected = expected && ref_is_base62((unsigned char) body[i]);
		if (expected)
		{
			char sum[TOKEN_CHECKSUM_LEN];

			ref_checksum(body, sum);
			expected = memcmp(sum, body + TOKEN_RANDOM_LEN, TOKEN_CHECKSUM_LEN) == 0;
		}
	}
	actual = token_is_wellformed(s, size);
	REQUIRE(actual == expected);
	if (actual)
	{
		/* And consistent with the library's own pieces. */
		size_t brand_len = size - 1 - TOKEN_BODY_LEN;
		char sum[TOKEN_CHECKSUM_LEN];

		REQUIRE(size <= TOKEN_MAX_LEN && token_brand_is_valid(s, brand_len));
		token_checksum(s + brand_len + 1, sum);
		REQUIRE(memcmp(sum, s + size - TOKEN_CHECKSUM_LEN, TOKEN_CHECKSUM_LEN) == 0);
	}
	free(s);
}

/* token_checksum on any 30 bytes (not only digits) matches the reference. */
static void
check_checksum(const uint8_t *data, size_t size)
{
	char *part;
	char sum[TOKEN_CHECKSUM_LEN];
	char expected[TOKEN_CHECKSUM_LEN];

	if (size < TOKEN_RANDOM_LEN)
		return;
	part = exact_copy(data + size - TOKEN_RANDOM_LEN, TOKEN_RANDOM_LEN);
	token_checksum(part, sum);
	ref_checksum(part, expected);
	REQUIRE(memcmp(sum, expected, TOKEN_CHECKSUM_LEN) == 0);
	free(part);
}

/*
 * base62_encode_u32 of the first four bytes, in a width (0..8) taken from the
 * fifth: it succeeds exactly when the value fits, and the digits decode back.
 */
static void
check_encode(const uint8_t *data, size_t size)
{
	uint32_t value;
	size_t width;
	uint64_t limit = 1, decoded = 0;
	char *out;
	bool ok;

	if (size < 5)
		return;
	value = (uint32_t) data[0] << 24 | (uint32_t) data[1] << 16 | (uint32_t) data[2] << 8 | data[3];
	width = data[4] % 9;
	for (size_t i = 0; i < width; i++)
		limit *= 62;
	out = malloc(width ? width : 1);
	REQUIRE(out != NULL);
	ok = base62_encode_u32(value, out, width);
	REQUIRE(ok == (value < limit));
	for (size_t i = 0; i < width; i++)
	{
		int d = base62_digit_value((unsigned char) out[i]);

		REQUIRE(d >= 0 && out[i] == alphabet[d]);
		decoded = decoded * 62 + (uint64_t) d;
	}
	/* Without room, the low digits are still right. */
	REQUIRE(decoded == value % limit);
	free(out);
}

/* Bytes below 248 map to alphabet[b % 62] in order; the rest are skipped. */
static void
check_base62(const uint8_t *data, size_t size)
{
	size_t out_len, n, j = 0;
	char *out;

	if (size < 1)
		return;
	out_len = data[0] % 40;
	out = malloc(out_len ? out_len : 1);
	REQUIRE(out != NULL);
	n = base62_from_random_bytes(data + 1, size - 1, out, out_len);
	REQUIRE(n <= out_len && n <= size - 1);
	for (size_t i = 1; i < size && j < out_len; i++)
	{
		if (data[i] < 248)
		{
			REQUIRE(j < n);
			REQUIRE(out[j] == alphabet[data[i] % 62]);
			j++;
		}
	}
	REQUIRE(j == n);
	free(out);
}

static int
hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Lowercase hex that decodes back to the input. */
static void
check_hex(const uint8_t *data, size_t size)
{
	char *hex;

	if (size == 0)
		return;
	hex = malloc(2 * size);
	REQUIRE(hex != NULL);
	hex_encode_lower(data, size, hex);
	for (size_t i = 0; i < size; i++)
	{
		int hi = hex_value(hex[2 * i]);
		int lo = hex_value(hex[2 * i + 1]);

		REQUIRE(hi >= 0 && lo >= 0);
		REQUIRE((uint8_t) (hi * 16 + lo) == data[i]);
	}
	free(hex);
}

/* token_generate's random bytes come from the fuzz input, and are recorded. */
static const uint8_t *feed;
static size_t feed_len;
static uint8_t drawn[4096];
static size_t drawn_len;
static bool feed_failed;

static bool
fed_random(void *buf, size_t len)
{
	if (len > feed_len || len > sizeof(drawn) - drawn_len)
	{
		feed_failed = true;
		return false;
	}
	memcpy(buf, feed, len);
	memcpy(drawn + drawn_len, feed, len);
	drawn_len += len;
	feed += len;
	feed_len -= len;
	return true;
}

/*
 * Input: brand length (0..12), output-buffer slack (-2..+1), the brand bytes,
 * then the random bytes.  A token comes out exactly when the brand is valid,
 * the buffer is big enough and the random source did not fail; it is then
 * brand "_" + the first 30 accepted random bytes as digits + their checksum.
 */
static void
check_generate(const uint8_t *data, size_t size)
{
	char brand[16];
	size_t brand_len, need, out_size, len;
	int slack;
	char *out;

	if (size < 2)
		return;
	brand_len = data[0] % 13;
	slack = (int) (data[1] % 4) - 2;
	if (size < 2 + brand_len)
		return;
	memcpy(brand, data + 2, brand_len);
	brand[brand_len] = '\0';
	/* strlen may stop early at a NUL taken from the input. */
	brand_len = strlen(brand);
	need = brand_len + 1 + TOKEN_BODY_LEN + 1;
	out_size = (size_t) ((int) need + slack);
	out = malloc(out_size);
	REQUIRE(out != NULL);

	feed = data + 2 + (data[0] % 13);
	feed_len = size - 2 - (data[0] % 13);
	drawn_len = 0;
	feed_failed = false;
	len = token_generate(brand, fed_random, out, out_size);

	if (!ref_is_brand(brand, brand_len) || out_size < need)
	{
		REQUIRE(len == 0);
	}
	else if (feed_failed)
		REQUIRE(len == 0);
	else
	{
		size_t digits = 0;
		char sum[TOKEN_CHECKSUM_LEN];

		REQUIRE(len == need - 1);
		REQUIRE(out[len] == '\0');
		REQUIRE(memcmp(out, brand, brand_len) == 0 && out[brand_len] == '_');
		for (size_t i = 0; i < drawn_len && digits < TOKEN_RANDOM_LEN; i++)
		{
			if (drawn[i] < 248)
			{
				REQUIRE(out[brand_len + 1 + digits] == alphabet[drawn[i] % 62]);
				digits++;
			}
		}
		REQUIRE(digits == TOKEN_RANDOM_LEN);
		ref_checksum(out + brand_len + 1, sum);
		REQUIRE(memcmp(sum, out + brand_len + 1 + TOKEN_RANDOM_LEN, TOKEN_CHECKSUM_LEN) == 0);
		REQUIRE(token_is_wellformed(out, len));
	}
	free(out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_wellformed(data, size);
	check_checksum(data, size);
	check_encode(data, size);
	check_base62(data, size);
	check_hex(data, size);
	check_generate(data, size);
	return 0;
}
