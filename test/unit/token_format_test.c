/*
 * token_format_test.c
 *		Unit tests of the pure token code (base62, hex, checksum, format).
 *
 * The known answers were derived outside this code, with Python 3's
 * zlib.crc32 and hashlib and a few lines of base62 written by hand:
 *
 *   A = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
 *   def b62(v, w=6):
 *       s = ""
 *       for _ in range(w): s, v = A[v % 62] + s, v // 62
 *       assert v == 0
 *       return s
 *   def checksum(body): return b62(zlib.crc32(body.encode()))
 *
 * Build and run (or "make unittest"):
 *   cc -O2 -g -Wall -Wextra -Werror -Isrc -o /tmp/t test/unit/token_format_test.c \
 *       src/base62.c src/hex.c src/token_format.c -lz && /tmp/t
 * Exit status 1 on any failure.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "token/base62.h"
#include "token/hex.h"
#include "token/token_format.h"

static int checks = 0;
static int failures = 0;

#define CHECK(cond)                                                                                \
	do                                                                                             \
	{                                                                                              \
		checks++;                                                                                  \
		if (!(cond))                                                                               \
		{                                                                                          \
			fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);               \
			failures++;                                                                            \
		}                                                                                          \
	} while (0)

#define CHECK_STR(actual, expected)                                                                \
	do                                                                                             \
	{                                                                                              \
		checks++;                                                                                  \
		if (strcmp((actual), (expected)) != 0)                                                     \
		{                                                                                          \
			fprintf(stderr, "%s:%d: got \"%s\", expected \"%s\"\n", __FILE__, __LINE__, (actual),  \
					(expected));                                                                   \
			failures++;                                                                            \
		}                                                                                          \
	} while (0)

/*
 * Tokens computed in Python as brand + "_" + body + checksum(body), with
 * bodies drawn by random.Random(2024).choice(A).
 */
static const char *const python_tokens[] = {
	"pat_UBkbJCukQmjmGYFeqlVMQXkdzDJYjL1mwFnZ",
	"x_X4kntDimkTxjrtf9YDtQ3nMeQT7kl80D2MFT",
	"ghp0_mKOLMoCKRQKaDvtQED2lEm1tGsWKnz1u3H4I",
	"a1b2c3d4e5_apjQd7LsfcnEFTN8CNVcre9GOdLLyj2jy8VI",
	/* checksum("0" * 30): zlib.crc32 = 0x77E5DB82 */
	"pat_0000000000000000000000000000002C8GjS",
};

/* A deterministic random source: replays a script of bytes, then fails. */
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

static bool
is_brand_char(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static void
test_base62_alphabet(void)
{
	int digits = 0;

	CHECK(memcmp(base62_alphabet,
				 "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
				 "abcdefghijklmnopqrstuvwxyz",
				 62) == 0);
	for (int i = 0; i < 62; i++)
		CHECK(base62_digit_value((unsigned char) base62_alphabet[i]) == i);
	for (int c = 0; c < 256; c++)
		digits += base62_digit_value((unsigned char) c) >= 0;
	CHECK(digits == 62);
	CHECK(base62_digit_value('_') == -1);
	CHECK(base62_digit_value('/') == -1);
	CHECK(base62_digit_value(':') == -1);
	CHECK(base62_digit_value('@') == -1);
	CHECK(base62_digit_value('[') == -1);
	CHECK(base62_digit_value('`') == -1);
	CHECK(base62_digit_value('{') == -1);
	CHECK(base62_digit_value(0) == -1);
	CHECK(base62_digit_value(0x80) == -1);
	CHECK(base62_digit_value(0xff) == -1);
}

static void
test_base62_encode(void)
{
	char out[8];

	memset(out, 0, sizeof(out));
	CHECK(base62_encode_u32(0, out, 6));
	CHECK_STR(out, "000000");
	CHECK(base62_encode_u32(61, out, 6));
	CHECK_STR(out, "00000z");
	CHECK(base62_encode_u32(62, out, 6));
	CHECK_STR(out, "000010");
	CHECK(base62_encode_u32(62 * 62 - 1, out, 6));
	CHECK_STR(out, "0000zz");
	/* b62(123456789) */
	CHECK(base62_encode_u32(123456789, out, 6));
	CHECK_STR(out, "08M0kX");
	/* 62^5 = 916132832 */
	CHECK(base62_encode_u32(916132832u, out, 6));
	CHECK_STR(out, "100000");
	/* 4294967295 = 4*62^5 + 42*62^4 + 41*62^3 + 15*62^2 + 12*62 + 3 */
	CHECK(base62_encode_u32(UINT32_MAX, out, 6));
	CHECK_STR(out, "4gfFC3");

	/* Exactly width digits are written, nothing past them. */
	memset(out, '#', sizeof(out));
	CHECK(base62_encode_u32(7, out, 3));
	CHECK(memcmp(out, "007#####", 8) == 0);

	/* Too narrow: false. */
	CHECK(!base62_encode_u32(62, out, 1));
	CHECK(base62_encode_u32(61, out, 1));
	CHECK(!base62_encode_u32(62 * 62, out, 2));
	CHECK(base62_encode_u32(62 * 62 - 1, out, 2));
	CHECK(!base62_encode_u32(916132832u, out, 5));
	CHECK(!base62_encode_u32(UINT32_MAX, out, 5));
	CHECK(base62_encode_u32(0, out, 0));
	CHECK(!base62_encode_u32(1, out, 0));
	/* Wider than needed: left-padded. */
	CHECK(base62_encode_u32(UINT32_MAX, out, 8));
	CHECK(memcmp(out, "004gfFC3", 8) == 0);
}

static void
test_base62_from_random(void)
{
	const uint8_t in[] = {0, 61, 62, 247, 248, 255, 123};
	char out[8];

	/* 248 and 255 are rejected; the rest map to b % 62. */
	memset(out, '#', sizeof(out));
	CHECK(base62_from_random_bytes(in, sizeof(in), out, 7) == 5);
	CHECK(memcmp(out, "0z0zz###", 8) == 0);

	/* Stops when the output is full and writes nothing more. */
	memset(out, '#', sizeof(out));
	CHECK(base62_from_random_bytes(in, sizeof(in), out, 2) == 2);
	CHECK(memcmp(out, "0z######", 8) == 0);
	CHECK(base62_from_random_bytes(in, sizeof(in), out, 0) == 0);
	CHECK(out[0] == '0');
	CHECK(base62_from_random_bytes(in, 0, out, 8) == 0);

	/* Every byte value, one at a time. */
	for (int b = 0; b < 256; b++)
	{
		uint8_t one = (uint8_t) b;
		char digit = '#';
		size_t n = base62_from_random_bytes(&one, 1, &digit, 1);

		if (b < 248)
			CHECK(n == 1 && digit == base62_alphabet[b % 62]);
		else
			CHECK(n == 0 && digit == '#');
	}

	/* The 248 accepted values hit each digit exactly four times: no bias. */
	{
		uint8_t all[256];
		char digits[256];
		int count[62] = {0};
		size_t n;

		for (int b = 0; b < 256; b++)
			all[b] = (uint8_t) b;
		n = base62_from_random_bytes(all, sizeof(all), digits, sizeof(digits));
		CHECK(n == 248);
		for (size_t i = 0; i < n; i++)
			count[base62_digit_value((unsigned char) digits[i])]++;
		for (int d = 0; d < 62; d++)
			CHECK(count[d] == 4);
	}
}

static void
test_hex(void)
{
	const uint8_t in[] = {0x00, 0x01, 0x7f, 0x80, 0xab, 0xff};
	/* hashlib.sha256(b"abc").digest() and its hexdigest() */
	const uint8_t sha_abc[32] = {0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40,
								 0xde, 0x5d, 0xae, 0x22, 0x23, 0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17,
								 0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad};
	char out[66];
	uint8_t all[256];
	char all_hex[513];

	memset(out, '#', sizeof(out));
	hex_encode_lower(in, sizeof(in), out);
	CHECK(memcmp(out, "00017f80abff##", 14) == 0);

	memset(out, '#', sizeof(out));
	hex_encode_lower(in, 0, out);
	CHECK(out[0] == '#');

	memset(out, '#', sizeof(out));
	hex_encode_lower(sha_abc, sizeof(sha_abc), out);
	CHECK(memcmp(out, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad##", 66) ==
		  0);

	/* Every byte value, against the C library's own formatting. */
	for (int b = 0; b < 256; b++)
		all[b] = (uint8_t) b;
	hex_encode_lower(all, sizeof(all), all_hex);
	all_hex[512] = '\0';
	for (int b = 0; b < 256; b++)
	{
		char expected[3];

		snprintf(expected, sizeof(expected), "%02x", b);
		CHECK(memcmp(all_hex + 2 * b, expected, 2) == 0);
	}
	/* bytes(range(256)).hex()[:64] */
	CHECK(strncmp(all_hex, "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
				  64) == 0);
}

static void
test_checksum(void)
{
	static const struct
	{
		const char *body;
		const char *sum;
	} vectors[] = {
		/* zlib.crc32 = 0x77E5DB82 */
		{"000000000000000000000000000000", "2C8GjS"},
		/* zlib.crc32 = 0xFD1C278C */
		{"abcdefghijklmnopqrstuvwxyzABCD", "4dNndU"},
		/* zlib.crc32 = 0xF0C344AF */
		{"0123456789ABCDEFGHIJKLMNOPQRST", "4PMbyp"},
		/* zlib.crc32 = 0xF3E3FC98 */
		{"111111111111111111111111111111", "4SunM0"},
		/* zlib.crc32 = 0xEAF2CD15 */
		{"zzzzzzzzzzzzzzzzzzzzzzzzzzzzzz", "4IlJEz"},
		/* zlib.crc32 = 0xB04C74CF */
		{"ZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ", "3EAd4B"},
	};
	char sum[TOKEN_CHECKSUM_LEN + 1];
	char *exact;

	for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++)
	{
		memset(sum, 0, sizeof(sum));
		token_checksum(vectors[i].body, sum);
		CHECK_STR(sum, vectors[i].sum);
	}

	/* Reads exactly 30 characters (AddressSanitizer sees any overread). */
	exact = malloc(TOKEN_RANDOM_LEN);
	CHECK(exact != NULL);
	if (exact)
	{
		memcpy(exact, "abcdefghijklmnopqrstuvwxyzABCD", TOKEN_RANDOM_LEN);
		memset(sum, 0, sizeof(sum));
		token_checksum(exact, sum);
		CHECK_STR(sum, "4dNndU");
		free(exact);
	}
}

static void
test_brand(void)
{
	CHECK(token_brand_is_valid("pat", 3));
	CHECK(token_brand_is_valid("a", 1));
	CHECK(token_brand_is_valid("0", 1));
	CHECK(token_brand_is_valid("abcdefghij", 10));
	CHECK(token_brand_is_valid("gh0", 3));
	CHECK(token_brand_is_valid("0123456789", 10));
	CHECK(!token_brand_is_valid("", 0));
	CHECK(!token_brand_is_valid("abcdefghijk", 11));
	CHECK(!token_brand_is_valid("Pat", 3));
	CHECK(!token_brand_is_valid("PAT", 3));
	CHECK(!token_brand_is_valid("_", 1));
	CHECK(!token_brand_is_valid("p_t", 3));
	CHECK(!token_brand_is_valid("p-t", 3));
	CHECK(!token_brand_is_valid("p t", 3));
	CHECK(!token_brand_is_valid("p\0t", 3));
	CHECK(!token_brand_is_valid("\xc3\xa9", 2));
	/* Only len bytes are looked at. */
	CHECK(token_brand_is_valid("pat_", 3));
}

static void
test_generate(void)
{
	uint8_t counting[256];
	char token[TOKEN_MAX_LEN + 1];
	size_t len;

	for (int i = 0; i < 256; i++)
		counting[i] = (uint8_t) i;

	/* Bytes 0, 1, 2, ... give the digits 0..9A..T in order. */
	use_script(counting, sizeof(counting));
	len = token_generate("pat", scripted_random, token, sizeof(token));
	CHECK(len == 40);
	CHECK(strlen(token) == 40);
	CHECK_STR(token, "pat_0123456789ABCDEFGHIJKLMNOPQRST4PMbyp");
	CHECK(token_is_wellformed(token, len));

	/* Longest brand: 47 characters. */
	use_script(counting, sizeof(counting));
	len = token_generate("abcdefghij", scripted_random, token, sizeof(token));
	CHECK(len == TOKEN_MAX_LEN && len == 47);
	CHECK_STR(token, "abcdefghij_0123456789ABCDEFGHIJKLMNOPQRST4PMbyp");

	/*
	 * Rejection sampling: after 48 rejected bytes come 30 bytes of 1, so at
	 * least 78 bytes must be drawn.
	 */
	{
		uint8_t mostly_high[128];

		memset(mostly_high, 255, sizeof(mostly_high));
		memset(mostly_high + 48, 1, 30);
		use_script(mostly_high, sizeof(mostly_high));
		len = token_generate("pat", scripted_random, token, sizeof(token));
		CHECK(len == 40);
		CHECK(bytes_requested >= 78);
		CHECK_STR(token, "pat_1111111111111111111111111111114SunM0");
	}

	/*
	 * Digits split across draws: 20 rejected bytes, 28 digits from 100..127,
	 * then 5, a rejected 255 and 200.  Python: gen("ab", stream).
	 */
	{
		uint8_t split[96];

		memset(split, 0, sizeof(split));
		memset(split, 250, 20);
		for (int i = 0; i < 28; i++)
			split[20 + i] = (uint8_t) (100 + i);
		split[48] = 5;
		split[49] = 255;
		split[50] = 200;
		use_script(split, sizeof(split));
		len = token_generate("ab", scripted_random, token, sizeof(token));
		CHECK(len == 39);
		CHECK_STR(token, "ab_cdefghijklmnopqrstuvwxyz01235E2nlnr2");
	}

	/* A random source that only ever gives rejected bytes, then fails. */
	{
		uint8_t high[1000];

		memset(high, 248, sizeof(high));
		use_script(high, sizeof(high));
		CHECK(token_generate("pat", scripted_random, token, sizeof(token)) == 0);
		CHECK(script_pos == sizeof(high));
	}

	/* A failing random source gives no token. */
	use_script(counting, 0);
	CHECK(token_generate("pat", scripted_random, token, sizeof(token)) == 0);
	use_script(counting, 10);
	CHECK(token_generate("pat", scripted_random, token, sizeof(token)) == 0);

	/* Invalid brands give no token. */
	use_script(counting, sizeof(counting));
	CHECK(token_generate("", scripted_random, token, sizeof(token)) == 0);
	CHECK(token_generate("abcdefghijk", scripted_random, token, sizeof(token)) == 0);
	CHECK(token_generate("PAT", scripted_random, token, sizeof(token)) == 0);
	CHECK(token_generate("Pat", scripted_random, token, sizeof(token)) == 0);
	CHECK(token_generate("_", scripted_random, token, sizeof(token)) == 0);
	CHECK(token_generate("pat_", scripted_random, token, sizeof(token)) == 0);
	CHECK(token_generate("p-t", scripted_random, token, sizeof(token)) == 0);
	CHECK(token_generate("\xc3\xa9t\xc3\xa9", scripted_random, token, sizeof(token)) == 0);

	/* The buffer must hold the token and its NUL; nothing is written otherwise. */
	memset(token, '#', sizeof(token));
	use_script(counting, sizeof(counting));
	CHECK(token_generate("pat", scripted_random, token, 0) == 0);
	CHECK(token_generate("pat", scripted_random, token, 40) == 0);
	CHECK(token_generate("abcdefghij", scripted_random, token, 47) == 0);
	CHECK(token[0] == '#');
	use_script(counting, sizeof(counting));
	CHECK(token_generate("abcdefghij", scripted_random, token, 48) == 47);

	/* Into a heap buffer of exactly 41 bytes (AddressSanitizer checks the bound). */
	{
		char *exact = malloc(41);

		CHECK(exact != NULL);
		if (exact)
		{
			use_script(counting, sizeof(counting));
			CHECK(token_generate("pat", scripted_random, exact, 41) == 40);
			CHECK_STR(exact, "pat_0123456789ABCDEFGHIJKLMNOPQRST4PMbyp");
			free(exact);
		}
	}
}

/* Generates many tokens from a fixed pseudo-random stream. */
static void
test_generate_many(void)
{
	static const char *const brands[] = {"pat", "a", "0", "ghp", "abcdefghij", "x9"};
	uint8_t stream[4096];
	uint32_t state = 12345;
	int wellformed = 0;
	int total = 0;

	for (size_t i = 0; i < sizeof(stream); i++)
	{
		state = state * 1103515245u + 12345u;
		stream[i] = (uint8_t) (state >> 16);
	}
	for (int round = 0; round < 300; round++)
	{
		const char *brand = brands[round % 6];
		char token[TOKEN_MAX_LEN + 1];
		size_t len;

		use_script(stream + (round * 13) % 2048, 2048);
		len = token_generate(brand, scripted_random, token, sizeof(token));
		total++;
		if (len == strlen(brand) + 1 + TOKEN_BODY_LEN && strlen(token) == len &&
			strncmp(token, brand, strlen(brand)) == 0 && token[strlen(brand)] == '_' &&
			token_is_wellformed(token, len))
			wellformed++;
	}
	CHECK(wellformed == total);
}

static void
test_wellformed_vectors(void)
{
	for (size_t i = 0; i < sizeof(python_tokens) / sizeof(python_tokens[0]); i++)
	{
		const char *t = python_tokens[i];
		size_t len = strlen(t);
		char *exact = malloc(len);

		CHECK(token_is_wellformed(t, len));
		/* Exactly len bytes, no NUL: nothing past them is read. */
		CHECK(exact != NULL);
		if (exact)
		{
			memcpy(exact, t, len);
			CHECK(token_is_wellformed(exact, len));
			free(exact);
		}
	}
}

/* Every single-byte change and every swap of neighbours is caught. */
static void
test_wellformed_mutations(void)
{
	for (size_t v = 0; v < sizeof(python_tokens) / sizeof(python_tokens[0]); v++)
	{
		const char *known = python_tokens[v];
		size_t len = strlen(known);
		size_t brand_len = (size_t) (strchr(known, '_') - known);
		char buf[TOKEN_MAX_LEN];
		int accepted = 0;
		int brand_changes = 0;

		for (size_t pos = 0; pos < len; pos++)
		{
			for (int c = 0; c < 256; c++)
			{
				if (c == (unsigned char) known[pos])
					continue;
				memcpy(buf, known, len);
				buf[pos] = (char) c;
				/* Another valid brand is still a well-formed token. */
				if (pos < brand_len && is_brand_char(c))
				{
					brand_changes++;
					CHECK(token_is_wellformed(buf, len));
					continue;
				}
				if (token_is_wellformed(buf, len))
				{
					fprintf(stderr, "mutation accepted: %s, position %zu, byte %d\n", known, pos,
							c);
					accepted++;
				}
			}
		}
		CHECK(accepted == 0);
		CHECK(brand_changes == (int) brand_len * 35);

		accepted = 0;
		for (size_t pos = brand_len + 1; pos + 1 < len; pos++)
		{
			if (known[pos] == known[pos + 1])
				continue;
			memcpy(buf, known, len);
			buf[pos] = known[pos + 1];
			buf[pos + 1] = known[pos];
			accepted += token_is_wellformed(buf, len);
		}
		CHECK(accepted == 0);
	}
}

/* token_is_wellformed over a C string, without its terminator. */
static bool
wf(const char *s)
{
	return token_is_wellformed(s, strlen(s));
}

static void
test_wellformed_rejects(void)
{
	const char *known = "pat_0000000000000000000000000000002C8GjS";
	size_t len = strlen(known);
	char buf[64];

	CHECK(len == 40 && wf(known));
	/* The brand is not part of the checksum. */
	CHECK(wf("xyz_0000000000000000000000000000002C8GjS"));
	CHECK(wf("0_0000000000000000000000000000002C8GjS"));

	/* Wrong separator. */
	CHECK(!wf("pat-0000000000000000000000000000002C8GjS"));
	CHECK(!wf("pat.0000000000000000000000000000002C8GjS"));
	CHECK(!wf("pat 0000000000000000000000000000002C8GjS"));
	CHECK(!wf("pat00000000000000000000000000000002C8GjS"));
	CHECK(!wf("pat:0000000000000000000000000000002C8GjS"));

	/* Bad brand. */
	CHECK(!wf("PAT_0000000000000000000000000000002C8GjS"));
	CHECK(!wf("pAt_0000000000000000000000000000002C8GjS"));
	CHECK(!wf("p_t_0000000000000000000000000000002C8GjS"));
	CHECK(!wf("p-t_0000000000000000000000000000002C8GjS"));
	CHECK(!wf("__0000000000000000000000000000002C8GjS"));

	/* Too short: no brand, no separator, a body one digit short. */
	CHECK(!wf(""));
	CHECK(!token_is_wellformed(known, 1));
	CHECK(!token_is_wellformed(known, len - 1));
	CHECK(!wf("0000000000000000000000000000002C8GjS"));
	CHECK(!wf("_0000000000000000000000000000002C8GjS"));
	CHECK(!wf("pat_"));
	CHECK(!wf("pat_000000000000000000000000000002C8GjS"));

	/* Too long: an 11-character brand, one more digit, a trailing character. */
	CHECK(strlen("abcdefghijk_0000000000000000000000000000002C8GjS") == 48);
	CHECK(!wf("abcdefghijk_0000000000000000000000000000002C8GjS"));
	CHECK(!wf("pat_00000000000000000000000000000002C8GjS"));
	CHECK(!wf("pat_0000000000000000000000000000002C8GjSx"));

	/* Length 47: the longest brand. */
	CHECK(strlen("abcdefghij_0000000000000000000000000000002C8GjS") == 47);
	CHECK(wf("abcdefghij_0000000000000000000000000000002C8GjS"));
	CHECK(!wf("abcdefghiJ_0000000000000000000000000000002C8GjS"));
	CHECK(!wf("abcdefghi__0000000000000000000000000000002C8GjS"));
	CHECK(!wf("abcdefghij_0000000000000000000000000000002C8GjT"));

	/* Inputs longer than TOKEN_MAX_LEN are rejected without being read. */
	CHECK(!token_is_wellformed(known, (size_t) 1 << 40));
	CHECK(!token_is_wellformed(known, SIZE_MAX));
	CHECK(!token_is_wellformed(NULL, TOKEN_MAX_LEN + 1));

	/* NUL bytes inside: the length counts, not the terminator. */
	for (size_t pos = 0; pos < len; pos++)
	{
		memcpy(buf, known, len);
		buf[pos] = '\0';
		CHECK(!token_is_wellformed(buf, len));
	}
	memcpy(buf, known, len);
	buf[len] = '\0';
	buf[len + 1] = 'x';
	CHECK(token_is_wellformed(buf, len));
	CHECK(!token_is_wellformed(buf, len + 2));

	/* Non-ASCII bytes: Latin-1 and UTF-8 in the brand, the body and the checksum. */
	CHECK(!wf("p\xe1t_0000000000000000000000000000002C8GjS"));
	CHECK(!wf("\xc3\xa9t_0000000000000000000000000000002C8GjS"));
	CHECK(!wf("pat_00000000000000\xc3\xa9"
			  "000000000000002C8GjS"));
	CHECK(!wf("pat_00000000000000000000000000000\xff"
			  "2C8GjS"));
	CHECK(!wf("pat_0000000000000000000000000000002C8Gj\x80"));
	/* U+FF3F FULLWIDTH LOW LINE as the separator, 40 bytes in all */
	CHECK(!wf("p\xef\xbc\xbf"
			  "0000000000000000000000000000002C8GjS"));
}

int
main(void)
{
	test_base62_alphabet();
	test_base62_encode();
	test_base62_from_random();
	test_hex();
	test_checksum();
	test_brand();
	test_generate();
	test_generate_many();
	test_wellformed_vectors();
	test_wellformed_mutations();
	test_wellformed_rejects();
	if (failures)
	{
		fprintf(stderr, "token_format_test: %d of %d checks failed\n", failures, checks);
		return 1;
	}
	printf("token_format_test: all %d checks passed\n", checks);
	return 0;
}
