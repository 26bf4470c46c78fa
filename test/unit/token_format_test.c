/*
 * token_format_test.c
 *		Unit tests of the pure token code (base62, hex, checksum, format).
 *
 * Known answers were computed independently with Python's zlib.crc32 and
 * hashlib (see the comments next to them).  Exit status 1 on any failure.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base62.h"
#include "hex.h"
#include "token_format.h"

static int failures = 0;

#define CHECK(cond)                                                                                \
	do                                                                                             \
	{                                                                                              \
		if (!(cond))                                                                               \
		{                                                                                          \
			fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);               \
			failures++;                                                                            \
		}                                                                                          \
	} while (0)

/* A deterministic "random" source: replays a script of bytes, then fails. */
static const uint8_t *script;
static size_t script_len;
static size_t script_pos;
static size_t bytes_requested;

static bool
scripted_random(void *buf, size_t len)
{
	uint8_t *out = buf;

	bytes_requested += len;
	for (size_t i = 0; i < len; i++)
	{
		if (script_pos >= script_len)
			return false;
		out[i] = script[script_pos++];
	}
	return true;
}

static void
use_script(const uint8_t *bytes, size_t len)
{
	script = bytes;
	script_len = len;
	script_pos = 0;
	bytes_requested = 0;
}

static void
test_base62(void)
{
	char out[7] = {0};

	CHECK(memcmp(base62_alphabet,
				 "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
				 "abcdefghijklmnopqrstuvwxyz",
				 62) == 0);
	for (int i = 0; i < 62; i++)
		CHECK(base62_digit_value((unsigned char) base62_alphabet[i]) == i);
	CHECK(base62_digit_value('_') == -1);
	CHECK(base62_digit_value(0) == -1);
	CHECK(base62_digit_value(0xff) == -1);

	CHECK(base62_encode_u32(0, out, 6) && strcmp(out, "000000") == 0);
	CHECK(base62_encode_u32(61, out, 6) && strcmp(out, "00000z") == 0);
	CHECK(base62_encode_u32(62, out, 6) && strcmp(out, "000010") == 0);
	/* 4294967295 = 4*62^5 + 42*62^4 + 50*62^3 + 7*62^2 + 43*62 + 31 (Python) */
	CHECK(base62_encode_u32(UINT32_MAX, out, 6) && strcmp(out, "4gfFC3") == 0);
	/* Too narrow: the value does not fit. */
	CHECK(!base62_encode_u32(62 * 62, out, 2));
	CHECK(base62_encode_u32(62 * 62 - 1, out, 2));
}

static void
test_base62_from_random(void)
{
	const uint8_t in[] = {0, 61, 62, 247, 248, 255, 123};
	char out[8] = {0};

	/* 248 and 255 are rejected; the rest map to b % 62. */
	CHECK(base62_from_random_bytes(in, sizeof(in), out, 7) == 5);
	CHECK(out[0] == base62_alphabet[0]);
	CHECK(out[1] == base62_alphabet[61]);
	CHECK(out[2] == base62_alphabet[0]);
	CHECK(out[3] == base62_alphabet[247 % 62]);
	CHECK(out[4] == base62_alphabet[123 % 62]);
	/* Stops when the output is full. */
	CHECK(base62_from_random_bytes(in, sizeof(in), out, 2) == 2);
	/* Only rejected bytes: nothing. */
	{
		const uint8_t high[] = {248, 249, 250, 255};

		CHECK(base62_from_random_bytes(high, sizeof(high), out, 4) == 0);
	}
}

static void
test_hex(void)
{
	const uint8_t in[] = {0x00, 0x01, 0x7f, 0x80, 0xab, 0xff};
	char out[13] = {0};

	hex_encode_lower(in, sizeof(in), out);
	CHECK(strcmp(out, "00017f80abff") == 0);
	hex_encode_lower(in, 0, out);
	CHECK(strcmp(out, "00017f80abff") == 0); /* nothing written */
}

static void
test_checksum(void)
{
	char sum[TOKEN_CHECKSUM_LEN + 1] = {0};

	/* zlib.crc32(b"0" * 30) = 0x77E5DB82 -> base62 "2C8GjS" (Python) */
	token_checksum("000000000000000000000000000000", sum);
	CHECK(strcmp(sum, "2C8GjS") == 0);
	/* zlib.crc32(b"abcdefghijklmnopqrstuvwxyzABCD") = 0xFD1C278C -> "4dNndU" (Python) */
	token_checksum("abcdefghijklmnopqrstuvwxyzABCD", sum);
	CHECK(strcmp(sum, "4dNndU") == 0);
}

static void
test_brand(void)
{
	CHECK(token_brand_is_valid("pat", 3));
	CHECK(token_brand_is_valid("a", 1));
	CHECK(token_brand_is_valid("abcdefghij", 10));
	CHECK(token_brand_is_valid("gh0", 3));
	CHECK(!token_brand_is_valid("", 0));
	CHECK(!token_brand_is_valid("abcdefghijk", 11));
	CHECK(!token_brand_is_valid("Pat", 3));
	CHECK(!token_brand_is_valid("p_t", 3));
	CHECK(!token_brand_is_valid("p-t", 3));
}

static void
test_generate(void)
{
	uint8_t bytes[256];
	char token[TOKEN_MAX_LEN + 1];
	size_t len;

	/* Bytes 0..29 give the digits 0..9A..T in order. */
	for (int i = 0; i < 256; i++)
		bytes[i] = (uint8_t) i;
	use_script(bytes, sizeof(bytes));
	len = token_generate("pat", scripted_random, token, sizeof(token));
	CHECK(len == 40);
	CHECK(strlen(token) == 40);
	CHECK(strncmp(token, "pat_0123456789ABCDEFGHIJKLMNOPQRST", 34) == 0);
	CHECK(token_is_wellformed(token, len));

	/* Rejected bytes are skipped, so more bytes are drawn. */
	{
		uint8_t mostly_high[96];

		memset(mostly_high, 255, sizeof(mostly_high));
		for (int i = 0; i < 30; i++)
			mostly_high[48 + i] = 1;
		use_script(mostly_high, sizeof(mostly_high));
		len = token_generate("pat", scripted_random, token, sizeof(token));
		CHECK(len == 40);
		CHECK(bytes_requested == 96);
		CHECK(strncmp(token + 4, "111111111111111111111111111111", 30) == 0);
	}

	/* A failing random source gives no token. */
	use_script(bytes, 10);
	CHECK(token_generate("pat", scripted_random, token, sizeof(token)) == 0);

	/* Invalid brands and short buffers give no token. */
	use_script(bytes, sizeof(bytes));
	CHECK(token_generate("", scripted_random, token, sizeof(token)) == 0);
	CHECK(token_generate("PAT", scripted_random, token, sizeof(token)) == 0);
	CHECK(token_generate("abcdefghijk", scripted_random, token, sizeof(token)) == 0);
	CHECK(token_generate("pat", scripted_random, token, 40) == 0);
	CHECK(token_generate("pat", scripted_random, token, 41) == 40);
	use_script(bytes, sizeof(bytes));
	CHECK(token_generate("abcdefghij", scripted_random, token, sizeof(token)) == TOKEN_MAX_LEN);
	CHECK(token_is_wellformed(token, TOKEN_MAX_LEN));
}

static void
test_wellformed(void)
{
	const char *known = "pat_0000000000000000000000000000002C8GjS";
	char buf[64];
	size_t len = strlen(known);
	int accepted = 0;

	CHECK(token_is_wellformed(known, len));
	CHECK(token_is_wellformed("xyz_0000000000000000000000000000002C8GjS", len));

	/* Every single-character change is caught (CRC32 detects them all). */
	for (size_t pos = 0; pos < len; pos++)
	{
		for (int c = 1; c < 256; c++)
		{
			if (c == (unsigned char) known[pos])
				continue;
			memcpy(buf, known, len);
			buf[pos] = (char) c;
			/* The brand may change to another valid brand: still well-formed. */
			if (pos < 3 && ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')))
				continue;
			accepted += token_is_wellformed(buf, len);
		}
	}
	CHECK(accepted == 0);

	CHECK(!token_is_wellformed(known, len - 1));
	CHECK(!token_is_wellformed("", 0));
	CHECK(!token_is_wellformed("_0000000000000000000000000000002C8GjS", 37));
	CHECK(!token_is_wellformed("pat-0000000000000000000000000000002C8GjS", len));
	/* An 11-character brand makes the token one too long. */
	CHECK(!token_is_wellformed("abcdefghijk_0000000000000000000000000000002C8GjS", 48));
	CHECK(token_is_wellformed("abcdefghij_0000000000000000000000000000002C8GjS", 47));
	/* A NUL byte inside. */
	memcpy(buf, known, len);
	buf[10] = '\0';
	CHECK(!token_is_wellformed(buf, len));
	/* Bytes beyond TOKEN_MAX_LEN are never read: a huge length is just rejected. */
	CHECK(!token_is_wellformed(known, (size_t) 1 << 40));
}

int
main(void)
{
	test_base62();
	test_base62_from_random();
	test_hex();
	test_checksum();
	test_brand();
	test_generate();
	test_wellformed();
	if (failures)
	{
		fprintf(stderr, "%d check(s) failed\n", failures);
		return 1;
	}
	printf("token_format_test: all checks passed\n");
	return 0;
}
