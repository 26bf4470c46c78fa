-- 1.2: a token's limits (address allowlist, credits, rate limit), the
-- verification that applies them, inactivity, notices and the HTTP mapping,
-- on a server without the library preloaded (the shared-memory path is
-- test/scripts/limits_shared.sh and test/preloaded/specs).
\i test/sql/setup/common.sql
\set VERBOSITY terse
SET api_tokens.last_used_interval = '1d';
INSERT INTO users (id, email) VALUES ('00000000-0000-0000-0000-0000000001a1', 'limits@example.com');

SELECT token_id AS lim_id, token AS lim
  FROM api_token_create('00000000-0000-0000-0000-0000000001a1', 'limited', '{read}') \gset
SELECT token_id AS free_id, token AS free
  FROM api_token_create('00000000-0000-0000-0000-0000000001a1', 'free', '{read}') \gset

-- Half of each page is left for the next versions of the rows the flusher
-- rewrites (spent credits), so that they stay in their page.
SELECT reloptions FROM pg_class WHERE oid = 'api_token_limits'::regclass;

-- No limits: verify answers as validate does, with nothing to retry or spend.
SELECT status, retry_after, credits_remaining FROM api_token_verify(:'lim');
SELECT status FROM api_token_verify(:'lim', '{write}');
SELECT status FROM api_token_verify('pat_nothing');
SELECT status FROM api_token_verify(NULL);
SELECT * FROM api_token_verify(:'lim', NULL, NULL, -1);
SELECT * FROM api_token_verify(:'lim', NULL, NULL, NULL);

-- An allowlist: IPv4 and IPv6 networks; no address given is refused.
SELECT api_token_set_allowed_addresses(:'lim_id', '{10.0.0.0/8, 192.168.1.7/32, 2001:db8::/32}');
SELECT a AS address, (SELECT status FROM api_token_verify(:'lim', NULL, a::inet, 0))
  FROM unnest(ARRAY['10.1.2.3', '10.255.255.255', '11.0.0.1', '192.168.1.7', '192.168.1.8',
                    '2001:db8::1', '2001:db9::1', '::ffff:10.1.2.3']) AS a;
SELECT status FROM api_token_verify(:'lim');
SELECT status FROM api_token_validate(:'lim');
-- An empty allowlist allows no address; removing it allows every one.
SELECT api_token_set_allowed_addresses(:'lim_id', '{}');
SELECT status FROM api_token_verify(:'lim', NULL, '10.1.2.3', 0);
SELECT api_token_set_allowed_addresses(:'lim_id', NULL);
SELECT status FROM api_token_verify(:'lim', NULL, NULL, 0);
-- The other checks come first: a token without the scope is told so.
SELECT api_token_set_allowed_addresses(:'lim_id', '{10.0.0.0/8}');
SELECT status FROM api_token_verify(:'lim', '{write}', '11.0.0.1');
SELECT api_token_set_allowed_addresses(:'lim_id', NULL);

-- Credits: each valid verification spends its cost, in the token's row;
-- never below zero; cost 0 only reads.
SELECT api_token_set_credits(:'lim_id', 3);
SELECT status, credits_remaining FROM api_token_verify(:'lim', NULL, NULL, 2);
SELECT credits FROM api_token_limits WHERE token_id = :'lim_id';
SELECT status, retry_after, credits_remaining FROM api_token_verify(:'lim', NULL, NULL, 2);
SELECT status, credits_remaining FROM api_token_verify(:'lim', NULL, NULL, 0);
SELECT status, credits_remaining FROM api_token_validate(:'lim') JOIN api_token_verify(:'lim', NULL, NULL, 0) USING (status);
SELECT credits FROM api_token_limits WHERE token_id = :'lim_id';
SELECT status, credits_remaining FROM api_token_verify(:'lim', NULL, NULL, 1);
-- A refused scope spends nothing; neither does a transaction rolled back.
SELECT api_token_set_credits(:'lim_id', 2);
SELECT status FROM api_token_verify(:'lim', '{write}', NULL, 1);
BEGIN;
SELECT status, credits_remaining FROM api_token_verify(:'lim', NULL, NULL, 2);
ROLLBACK;
SELECT credits FROM api_token_limits WHERE token_id = :'lim_id';
-- Without the library preloaded, a READ ONLY transaction cannot spend.
BEGIN READ ONLY;
SELECT status FROM api_token_verify(:'lim', NULL, NULL, 1);
ROLLBACK;
BEGIN READ ONLY;
SELECT status, credits_remaining FROM api_token_verify(:'lim', NULL, NULL, 0);
ROLLBACK;
-- Refill: the balance is reset to refill every refill_every.
SELECT api_token_set_credits(:'lim_id', 0, 5, '1 hour');
SELECT status, retry_after BETWEEN 3590 AND 3600 AS retry_within_the_hour, credits_remaining
  FROM api_token_verify(:'lim', NULL, NULL, 1);
UPDATE api_token_limits SET credits_refilled_at = date_trunc('second', now()) - interval '2 hours 30 minutes'
 WHERE token_id = :'lim_id' RETURNING credits_refilled_at AS refill_base \gset
SELECT status, credits_remaining FROM api_token_verify(:'lim', NULL, NULL, 1);
SELECT credits, credits_refilled_at = :'refill_base'::timestamptz + interval '2 hours' AS refilled_on_the_hour
  FROM api_token_limits WHERE token_id = :'lim_id';
SELECT api_token_set_credits(:'lim_id', NULL);
SELECT status, credits_remaining FROM api_token_verify(:'lim', NULL, NULL, 100);

-- Rate limits are counted only by a server with the library preloaded.
SELECT api_token_set_rate_limit(:'lim_id', 10, '1 minute');
-- A row with one anyway (restored from a preloaded server) is refused loudly.
INSERT INTO api_token_limits (token_id, rate_limit, rate_window) VALUES (:'free_id', 10, '1 minute');
\set VERBOSITY sqlstate
SELECT status FROM api_token_verify(:'free');
\set VERBOSITY terse
SELECT api_token_set_rate_limit(:'free_id', NULL, NULL);
SELECT count(*) AS rows_left FROM api_token_limits WHERE token_id = :'free_id';
SELECT status FROM api_token_verify(:'free');

-- The setters check what they are given.
SELECT api_token_set_rate_limit(NULL, 1, '1 minute');
SELECT api_token_set_rate_limit(:'lim_id', 0, '1 minute');
SELECT api_token_set_rate_limit(:'lim_id', 1, '0');
SELECT api_token_set_rate_limit(:'lim_id', 1, NULL);
SELECT api_token_set_rate_limit(:'lim_id', 1, '2 years');
SELECT api_token_set_credits(:'lim_id', -1);
SELECT api_token_set_credits(:'lim_id', 1, -1, '1 day');
SELECT api_token_set_credits(:'lim_id', 1, 1, NULL);
SELECT api_token_set_credits(:'lim_id', 1, NULL, '1 day');
SELECT api_token_set_credits(:'lim_id', 1, 1, '-1 day');
SELECT api_token_set_allowed_addresses(:'lim_id', '{10.0.0.0/8, NULL}');
SELECT api_token_set_allowed_addresses(:'lim_id', '{{10.0.0.0/8}}');
SELECT api_token_set_allowed_addresses('00000000-0000-0000-0000-0000000000ff', '{10.0.0.0/8}');
SELECT api_token_set_credits('00000000-0000-0000-0000-0000000000ff', 1);
SELECT count(*) AS limits_of_unknown_tokens FROM api_token_limits
 WHERE token_id = '00000000-0000-0000-0000-0000000000ff';

-- Each change is an event (never a token or hash).
SELECT event, detail->>'limit' AS lim, detail->>'change' AS change
  FROM api_token_events WHERE token_id = :'lim_id' AND event = 'limits_set' ORDER BY id;

-- Rotation carries the limits: the successor gets the allowlist and the
-- credits left; the old token, in its grace period, has none.
SELECT api_token_set_allowed_addresses(:'lim_id', '{10.0.0.0/8}');
SELECT api_token_set_credits(:'lim_id', 4, 10, '1 day');
SELECT status FROM api_token_verify(:'lim', NULL, '10.0.0.1', 1);
SELECT token_id AS next_id, token AS next FROM api_token_rotate(:'lim_id', '1 hour') \gset
SELECT token_id = :'next_id' AS successor, credits, credits_refill, allowed_addresses
  FROM api_token_limits WHERE token_id IN (:'lim_id', :'next_id') ORDER BY 1;
SELECT status, credits_remaining FROM api_token_verify(:'lim', NULL, '10.0.0.1', 1);
SELECT status, credits_remaining FROM api_token_verify(:'next', NULL, '10.0.0.1', 1);
SELECT status FROM api_token_verify(:'next', NULL, '11.0.0.1', 1);
-- Revoked, the token is refused whatever its limits; deleted, its limits
-- stay (no foreign key ties the tables) until the next purge.
SELECT api_token_revoke(:'next_id');
SELECT status FROM api_token_verify(:'next', NULL, '10.0.0.1', 0);
DELETE FROM api_tokens WHERE id = :'next_id';
SELECT count(*) AS limits_of_deleted FROM api_token_limits WHERE token_id = :'next_id';
SELECT api_tokens_purge('30 days') >= 0 AS purged;
SELECT count(*) AS limits_of_deleted_after_purge FROM api_token_limits WHERE token_id = :'next_id';
SELECT count(*) AS limits_of_live_token FROM api_token_limits WHERE token_id = :'lim_id';

-- Inactivity: a token unused (or never used) for api_tokens.max_idle
-- validates as inactive; api_tokens_idling lists those about to be.
SELECT token_id AS idle_id, token AS idle
  FROM api_token_create('00000000-0000-0000-0000-0000000001a1', 'idle', '{read}') \gset
SELECT token_id AS busy_id, token AS busy
  FROM api_token_create('00000000-0000-0000-0000-0000000001a1', 'busy', '{read}') \gset
UPDATE api_tokens SET created_at = now() - interval '100 days' WHERE id IN (:'idle_id', :'busy_id');
UPDATE api_tokens SET last_used_at = now() - interval '85 days' WHERE id = :'busy_id';
SHOW api_tokens.max_idle;
SELECT count(*) AS idling_without_a_limit FROM api_tokens_idling('1000 days');
SET api_tokens.max_idle = '90d';
SELECT token_id = :'busy_id' AS is_busy, name,
       idle_at = (SELECT last_used_at + interval '7776000 seconds' FROM api_tokens WHERE id = :'busy_id') AS idle_at_right
  FROM api_tokens_idling('10 days') WHERE user_id = '00000000-0000-0000-0000-0000000001a1';
SELECT count(*) AS idling_within_a_day FROM api_tokens_idling('1 day')
 WHERE user_id = '00000000-0000-0000-0000-0000000001a1';
SELECT status FROM api_token_validate(:'idle');
SELECT status FROM api_token_verify(:'idle', NULL, NULL, 0);
-- Its idle notice (the smallest offset that applies), once.
SELECT api_tokens_send_notices() >= 1 AS idle_notices;
SELECT event, detail ? 'idle_at' AS has_idle_at, detail->>'offset_seconds' AS offset_seconds
  FROM api_token_events WHERE event = 'idle_notice' AND token_id = :'busy_id';
SELECT api_tokens_send_notices() >= 0 AS again;
SELECT count(*) AS idle_notices_once FROM api_token_events
 WHERE event = 'idle_notice' AND token_id = :'busy_id';
-- The job makes it final, with the reason.
SELECT api_tokens_revoke_idle() >= 1 AS revoked_some;
SELECT is_active FROM api_tokens WHERE id = :'idle_id';
SELECT event, detail->>'how' AS how, detail ? 'idle_at' AS has_idle_at
  FROM api_token_events WHERE token_id = :'idle_id' AND event = 'revoked';
SELECT is_active FROM api_tokens WHERE id = :'busy_id';
SELECT status FROM api_token_validate(:'busy');
SET api_tokens.max_idle = '30min';
SET api_tokens.max_idle = '90 parsecs';
SET api_tokens.max_idle = 0;
SELECT api_tokens_revoke_idle();
SELECT count(*) FROM api_tokens_idling('1000 days');
RESET api_tokens.max_idle;

-- Notices before expiry and inactivity: the smallest offset that applies,
-- once each.
SELECT token_id AS soon_id
  FROM api_token_create('00000000-0000-0000-0000-0000000001a1', 'soon', '{read}',
                        now() + interval '5 days') \gset
SELECT token_id AS later_id
  FROM api_token_create('00000000-0000-0000-0000-0000000001a1', 'later', '{read}',
                        now() + interval '20 days') \gset
SELECT api_tokens_send_notices() >= 2 AS first_round;
SELECT token_id = :'soon_id' AS soon, event, detail->>'offset_seconds' AS offset_seconds
  FROM api_token_events WHERE event = 'expiry_notice' AND token_id IN (:'soon_id', :'later_id')
 ORDER BY 1;
SELECT api_tokens_send_notices() >= 0 AS second_round;
SELECT count(*) AS sent_once FROM api_token_events
 WHERE event = 'expiry_notice' AND token_id IN (:'soon_id', :'later_id');
-- A notice is sent again only for a window that opened after the last one:
-- as if the 'soon' token's notice had been sent 10 days ago (its 30-day one).
UPDATE api_token_events SET at = at - interval '10 days'
 WHERE event = 'expiry_notice' AND token_id = :'soon_id';
SELECT api_tokens_send_notices() >= 1 AS next_window;
SELECT detail->>'offset_seconds' AS offset_seconds, at > now() - interval '1 minute' AS just_now
  FROM api_token_events WHERE event = 'expiry_notice' AND token_id = :'soon_id' ORDER BY id;
SELECT api_tokens_send_notices('{0}');
SELECT api_tokens_send_notices('{1 day, NULL}');
SELECT api_tokens_send_notices(NULL);

-- The HTTP answer for each status (RFC 6750).
SELECT s AS status, h.*
  FROM unnest(ARRAY['valid', 'malformed', 'unknown', 'inactive', 'expired', 'rotated',
                    'insufficient_scope', 'address_denied', 'rate_limited', 'usage_exceeded',
                    'nonsense']) AS s,
       LATERAL api_token_http(s, '{read,write}') AS h;
SELECT * FROM api_token_http('insufficient_scope', '{"a b","c"}');
SELECT * FROM api_token_http('insufficient_scope', '{"x\"y"}');
SELECT * FROM api_token_http('insufficient_scope');
SELECT * FROM api_token_http(NULL);

-- The shared-memory state says the library is not preloaded.
SELECT * FROM api_tokens_limit_state();

DELETE FROM api_tokens WHERE user_id = '00000000-0000-0000-0000-0000000001a1';
DELETE FROM users WHERE id = '00000000-0000-0000-0000-0000000001a1';
