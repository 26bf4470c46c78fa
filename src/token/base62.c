/*
 * base62.c
 *		Base62 digits for token bodies and checksums.
 */
#include "token/base62.h"

const char base62_alphabet[63] = "0123456789"
								 "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
								 "abcdefghijklmnopqrstuvwxyz";

/* Largest multiple of 62 that fits in a byte: bytes at or above it are dropped. */
#define BASE62_REJECT_FROM 248

int
base62_digit_value(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'Z')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 36;
	return -1;
}

bool
base62_encode_u32(uint32_t value, char *out, size_t width)
{
	for (size_t i = width; i > 0; i--)
	{
		out[i - 1] = base62_alphabet[value % 62];
		value /= 62;
	}
	return value == 0;
}

size_t
base62_from_random_bytes(const uint8_t *in, size_t in_len, char *out, size_t out_len)
{
	size_t written = 0;

	for (size_t i = 0; i < in_len && written < out_len; i++)
	{
		if (in[i] < BASE62_REJECT_FROM)
			out[written++] = base62_alphabet[in[i] % 62];
	}
	return written;
}
