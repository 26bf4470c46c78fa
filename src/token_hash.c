/*
 * token_hash.c
 *		SHA-256 through the server's own hashing API, so that hashing
 *		follows however the server was built (OpenSSL, FIPS mode).
 */
#include "postgres.h"

#if PG_VERSION_NUM >= 140000
#include "common/cryptohash.h"
#endif
#include "common/sha2.h"

#include "hex.h"
#include "token_hash.h"

void
token_sha256_hex(const char *data, size_t len, char out[TOKEN_HASH_HEX_LEN])
{
	uint8 digest[PG_SHA256_DIGEST_LENGTH];

#if PG_VERSION_NUM >= 140000
	pg_cryptohash_ctx *ctx = pg_cryptohash_create(PG_SHA256);
	bool ok;

	ok = pg_cryptohash_init(ctx) == 0 &&
		 pg_cryptohash_update(ctx, (const uint8 *) data, len) == 0 &&
#if PG_VERSION_NUM >= 150000
		 pg_cryptohash_final(ctx, digest, sizeof(digest)) == 0;
#else
		 pg_cryptohash_final(ctx, digest) == 0;
#endif
	pg_cryptohash_free(ctx);
	if (!ok)
		elog(ERROR, "could not compute SHA-256 digest");
#else
	pg_sha256_ctx ctx;

	pg_sha256_init(&ctx);
	pg_sha256_update(&ctx, (const uint8 *) data, len);
	pg_sha256_final(&ctx, digest);
#endif

	hex_encode_lower(digest, sizeof(digest), out);
}
