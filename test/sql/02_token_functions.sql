-- The pure token functions: generate, hash, prefix, is_wellformed.
\i test/sql/setup/common.sql
\set VERBOSITY terse

-- Anatomy: brand, "_", 30 random base62 characters, 6 base62 checksum characters.
SELECT api_token_generate() AS t \gset
SELECT length(:'t') AS length,
       :'t' ~ '^pat_[0-9A-Za-z]{36}$' AS format,
       api_token_is_wellformed(:'t') AS wellformed;

-- Distinct and well-formed across many draws; every base62 digit shows up.
SELECT count(DISTINCT t) AS distinct_tokens,
       bool_and(api_token_is_wellformed(t)) AS all_wellformed,
       count(DISTINCT c) AS alphabet_used
  FROM (SELECT api_token_generate() AS t FROM generate_series(1, 2000)) g,
       LATERAL regexp_split_to_table(substr(t, 5, 30), '') AS c;

-- No modulo bias: each of the 62 digits should appear about 1/62 of the
-- time in 60,000 random characters (expected about 968 each).
SELECT min(n) > 800 AS min_ok, max(n) < 1150 AS max_ok
  FROM (SELECT c, count(*) AS n
          FROM (SELECT api_token_generate() AS t FROM generate_series(1, 2000)) g,
               LATERAL regexp_split_to_table(substr(t, 5, 30), '') AS c
         GROUP BY c) counts;

-- The checksum is CRC32 (zlib) of the random part in base62, left-padded to 6:
-- crc32('000000000000000000000000000000') = 0x77E5DB82 = 2011552642 = "2C8GjS" in base62
-- (computed with Python's zlib.crc32).
SELECT api_token_is_wellformed('pat_0000000000000000000000000000002C8GjS') AS known_checksum;
SELECT api_token_is_wellformed('pat_0000000000000000000000000000002C8GjT') AS wrong_checksum;

-- The brand comes from api_tokens.brand.
SET api_tokens.brand = 'acme';
SELECT api_token_generate() ~ '^acme_[0-9A-Za-z]{36}$' AS branded;
SET api_tokens.brand = 'abcdefghij';
SELECT length(api_token_generate()) AS longest;
SET api_tokens.brand = 'Bad';
SET api_tokens.brand = '';
SET api_tokens.brand = 'abcdefghijk';
SET api_tokens.brand = 'a_b';
RESET api_tokens.brand;
SHOW api_tokens.brand;

-- SHA-256 in lowercase hex, as Python's hashlib.sha256(t.encode()).hexdigest().
SELECT api_token_hash('') AS empty,
       api_token_hash('abc') AS abc,
       api_token_hash('pat_0000000000000000000000000000002C8GjS') AS token,
       api_token_hash('héllo') AS utf8;
SELECT api_token_hash(t) = encode(sha256(convert_to(t, 'UTF8')), 'hex') AS matches_core
  FROM (SELECT api_token_generate() AS t FROM generate_series(1, 100)) g
 GROUP BY 1;
SELECT api_token_hash(NULL) IS NULL AS strict;

-- The prefix is the first 8 characters.
SELECT api_token_prefix('pat_0000000000000000000000000000002C8GjS') AS prefix,
       api_token_prefix('short') AS short,
       api_token_prefix('') AS empty,
       api_token_prefix('ééééééééé') AS characters_not_bytes;

-- Well-formedness: format and checksum, nothing else.
SELECT t, api_token_is_wellformed(t)
  FROM (VALUES ('pat_0000000000000000000000000000002C8GjS'),
               ('xyz_0000000000000000000000000000002C8GjS'),
               ('abcdefghij_0000000000000000000000000000002C8GjS'),
               ('abcdefghijk_0000000000000000000000000000002C8GjS'),
               ('PAT_0000000000000000000000000000002C8GjS'),
               ('pat-0000000000000000000000000000002C8GjS'),
               ('_0000000000000000000000000000002C8GjS'),
               ('pat_000000000000000000000000000000!C8GjS'),
               ('pat_0000000000000000000000000000002C8Gj'),
               ('pat_0000000000000000000000000000002C8GjS '),
               (''),
               ('pat_')) v(t);
SELECT api_token_is_wellformed(repeat('a', 10000000)) AS huge;
SELECT api_token_is_wellformed(NULL) IS NULL AS strict;

-- Every single-character change of a real token is caught.
SELECT api_token_generate() AS t \gset
SELECT count(*) AS mutations, count(*) FILTER (WHERE api_token_is_wellformed(m)) AS accepted
  FROM generate_series(5, 40) AS i,
       LATERAL (SELECT substr('0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz', j, 1) AS c
                  FROM generate_series(1, 62) AS j) d,
       LATERAL (SELECT overlay(:'t' placing d.c from i for 1) AS m) x
 WHERE d.c <> substr(:'t', i, 1);
