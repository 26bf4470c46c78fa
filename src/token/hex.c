/*
 * hex.c
 *		Lowercase hexadecimal encoding, as Python's hexdigest() prints it.
 */
#include "token/hex.h"

void
hex_encode_lower(const uint8_t *in, size_t len, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < len; i++)
	{
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 0x0f];
	}
}
