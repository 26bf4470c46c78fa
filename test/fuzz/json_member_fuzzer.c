/*
 * json_member_fuzzer.c
 *		libFuzzer harness over json_member (src/json_member.c).
 *
 * Half the inputs are documents as they come: whatever the answer, the
 * scanner reads and writes only inside the exactly-sized buffers given to
 * it (AddressSanitizer), a value it returns is ASCII without NUL and no
 * longer than the input, and asking twice gives the same answer.  The other
 * half become the value of a member of an object encoded here, with other
 * members around it: the value must come back exactly, unless it holds a
 * byte beyond ASCII or NUL.
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -Isrc \
 *       -o /tmp/json_member_fuzzer test/fuzz/json_member_fuzzer.c src/json_member.c
 *   /tmp/json_member_fuzzer -max_total_time=60
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "token/json_member.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define REQUIRE(cond)                                                                              \
	do                                                                                             \
	{                                                                                              \
		if (!(cond))                                                                               \
			__builtin_trap();                                                                      \
	} while (0)

static void
as_a_document(const uint8_t *data, size_t size)
{
	char *doc = malloc(size ? size : 1);
	char *out = malloc(size ? size : 1);
	size_t out_len;
	size_t again_len;
	JsonMemberResult result;

	memcpy(doc, data, size);
	result = json_member(doc, size, "x-api-key", out, &out_len);
	REQUIRE(result >= JSON_MEMBER_ABSENT && result <= JSON_MEMBER_UNREADABLE);
	if (result == JSON_MEMBER_ASCII)
	{
		REQUIRE(out_len <= size);
		for (size_t i = 0; i < out_len; i++)
			REQUIRE(out[i] > 0 && (unsigned char) out[i] < 0x80);
	}
	else
		REQUIRE(out_len == 0);
	REQUIRE(json_member(doc, size, "x-api-key", out, &again_len) == result && again_len == out_len);
	free(doc);
	free(out);
}

static void
as_a_value(const uint8_t *data, size_t size)
{
	/* Room for every byte escaped (6 each) and the members around it. */
	size_t room = 6 * size + 128;
	char *doc = malloc(room);
	char *out = malloc(room);
	size_t at = 0;
	size_t out_len;
	int plain = 1;
	JsonMemberResult result;

	at += (size_t) snprintf(doc, room, "{\"before\": [1, {\"x\": null}], \"x-api-key\": \"");
	for (size_t i = 0; i < size; i++)
	{
		if (data[i] == 0 || data[i] >= 0x80)
			plain = 0;
		if (data[i] == '"' || data[i] == '\\' || data[i] < 0x20 || data[i] >= 0x80 || i % 3 == 0)
			at += (size_t) snprintf(doc + at, room - at, "\\u%04x", data[i]);
		else
			doc[at++] = (char) data[i];
	}
	at += (size_t) snprintf(doc + at, room - at, "\", \"after\": \"\\u00e9\"}");
	result = json_member(doc, at, "x-api-key", out, &out_len);
	if (plain)
		REQUIRE(result == JSON_MEMBER_ASCII && out_len == size && memcmp(out, data, size) == 0);
	else
		REQUIRE(result == JSON_MEMBER_NOT_ASCII && out_len == 0);
	free(doc);
	free(out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	if (data[0] & 1)
		as_a_document(data + 1, size - 1);
	else
		as_a_value(data + 1, size - 1);
	return 0;
}
