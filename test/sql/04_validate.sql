-- api_token_validate: exactly one row, one status each.
\i test/sql/setup/common.sql
\set VERBOSITY terse
-- Keep last-use bookkeeping out of this file (see 05_last_used).
SET api_tokens.last_used_interval = '1d';

INSERT INTO users (id, email) VALUES ('00000000-0000-0000-0000-000000000003', 'carol@example.com');
SELECT token_id AS valid_id, token AS valid_token
  FROM api_token_create('00000000-0000-0000-0000-000000000003', 'valid', '{read,write}') \gset
SELECT token_id AS noscope_id, token AS noscope_token
  FROM api_token_create('00000000-0000-0000-0000-000000000003', 'no scopes') \gset
SELECT token_id AS revoked_id, token AS revoked_token
  FROM api_token_create('00000000-0000-0000-0000-000000000003', 'revoked', '{read}') \gset
SELECT token_id AS expired_id, token AS expired_token
  FROM api_token_create('00000000-0000-0000-0000-000000000003', 'expired', '{read}',
                        now() + interval '1 hour') \gset
UPDATE api_tokens SET is_active = false WHERE id = :'revoked_id';
UPDATE api_tokens SET expires_at = now() - interval '1 second' WHERE id = :'expired_id';

-- valid: token_id, user_id and the token's scopes come back.
SELECT status, token_id = :'valid_id' AS id_ok, user_id, scopes
  FROM api_token_validate(:'valid_token');
SELECT status FROM api_token_validate(:'valid_token', '{read}');
SELECT status FROM api_token_validate(:'valid_token', '{write,read}');
SELECT status FROM api_token_validate(:'valid_token', '{}');
SELECT status FROM api_token_validate(:'valid_token', NULL);
SELECT status FROM api_token_validate(:'valid_token', '{read,read}');

-- insufficient_scope: still identifies the token.
SELECT status, token_id = :'valid_id' AS id_ok, user_id, scopes
  FROM api_token_validate(:'valid_token', '{admin}');
SELECT status FROM api_token_validate(:'valid_token', '{read,admin}');
SELECT status FROM api_token_validate(:'valid_token', '{READ}');
SELECT status, scopes FROM api_token_validate(:'noscope_token', '{read}');
SELECT status, scopes FROM api_token_validate(:'noscope_token');

-- inactive and expired: identified too.
SELECT status, token_id = :'revoked_id' AS id_ok, user_id, scopes
  FROM api_token_validate(:'revoked_token');
SELECT status, token_id = :'expired_id' AS id_ok, user_id, scopes
  FROM api_token_validate(:'expired_token');
-- Inactive wins over expired and scopes; expired wins over scopes.
UPDATE api_tokens SET expires_at = now() - interval '1 second' WHERE id = :'revoked_id';
SELECT status FROM api_token_validate(:'revoked_token', '{admin}');
SELECT status FROM api_token_validate(:'expired_token', '{admin}');
-- Expiry is compared with the transaction's time, like now().
UPDATE api_tokens SET expires_at = now() + interval '1 hour' WHERE id = :'expired_id';
SELECT status FROM api_token_validate(:'expired_token');
UPDATE api_tokens SET expires_at = 'infinity' WHERE id = :'expired_id';
SELECT status FROM api_token_validate(:'expired_token');
UPDATE api_tokens SET expires_at = '-infinity' WHERE id = :'expired_id';
SELECT status FROM api_token_validate(:'expired_token');

-- unknown: well-formed, right checksum, not in the table.
SELECT * FROM api_token_validate(api_token_generate());
SELECT * FROM api_token_validate('pat_0000000000000000000000000000002C8GjS');

-- malformed: decided before any table access.
SELECT i.label, v.*
  FROM (VALUES ('null', NULL::text), ('empty', ''), ('brand only', 'pat_'),
               ('words', 'not a token'),
               ('bad checksum', 'pat_0000000000000000000000000000002C8GjT'),
               ('upper case', upper(:'valid_token')),
               ('trailing space', :'valid_token' || ' '),
               ('leading space', ' ' || :'valid_token')) AS i(label, t),
       LATERAL api_token_validate(i.t) AS v;
SELECT status FROM api_token_validate(repeat('x', 100000000));
SELECT status FROM api_token_validate(repeat(:'valid_token', 2));

-- Exactly one row, whatever the input, also in the select list.
SELECT count(*) FROM api_token_validate(:'valid_token');
SELECT count(*) FROM api_token_validate('junk');
SELECT (api_token_validate(:'valid_token')).status;
SELECT (api_token_validate('junk')).status;

-- Many tokens in one statement.
SELECT v.status, count(*)
  FROM (VALUES (:'valid_token'), (:'noscope_token'), (:'revoked_token'), ('junk')) AS i(t),
       LATERAL api_token_validate(i.t, '{read}') AS v
 GROUP BY v.status ORDER BY v.status;

-- required_scopes errors.
\set VERBOSITY sqlstate
SELECT * FROM api_token_validate(:'valid_token', ARRAY['read', NULL]);
SELECT * FROM api_token_validate('junk', ARRAY[NULL]::text[]);
SELECT * FROM api_token_validate(:'valid_token', '{{read},{write}}');
\set VERBOSITY terse
SELECT * FROM api_token_validate(:'valid_token', ARRAY['read', NULL]);

-- Without the unique index on token_hash, validation refuses to scan.
BEGIN;
DROP INDEX ix_api_tokens_token_hash;
SELECT * FROM api_token_validate(:'valid_token');
ROLLBACK;
SELECT status FROM api_token_validate(:'valid_token');
RESET api_tokens.last_used_interval;
