-- 1.1: rotation lineage, reuse detection, family revocation, expiry of
-- successors and the longest lifetime.
\i test/sql/setup/common.sql
\set VERBOSITY terse
SET api_tokens.last_used_interval = '1d';
INSERT INTO users (id, email) VALUES ('00000000-0000-0000-0000-0000000000f1', 'lineage@example.com');

-- A lineage of three: first -> second -> third.
SELECT token_id AS first_id, token AS first
  FROM api_token_create('00000000-0000-0000-0000-0000000000f1', 'lineage', '{read}',
                        now() + interval '30 days') \gset
SELECT token_id AS second_id, token AS second FROM api_token_rotate(:'first_id') \gset
SELECT token_id AS third_id, token AS third FROM api_token_rotate(:'second_id', '1 hour') \gset
SELECT predecessor_id = :'first_id' AND successor_id = :'second_id' AS first_to_second,
       grace_ends_at = rotated_at AS no_grace
  FROM api_token_rotations WHERE predecessor_id = :'first_id';
SELECT successor_id = :'third_id' AS second_to_third,
       grace_ends_at = rotated_at + interval '1 hour' AS hour_of_grace
  FROM api_token_rotations WHERE predecessor_id = :'second_id';
SELECT api_token_successor(:'first_id') = :'second_id' AS first_succeeded,
       api_token_successor(:'second_id') = :'third_id' AS second_succeeded,
       api_token_successor(:'third_id') IS NULL AS third_is_last,
       api_token_successor('00000000-0000-0000-0000-0000000000ff') IS NULL AS unknown_has_none;

-- Successors keep the expiry of their predecessor (the second's own was cut
-- to the end of its grace).
SELECT t.expires_at = f.expires_at AS third_keeps_first_expiry
  FROM api_tokens f, api_tokens t WHERE f.id = :'first_id' AND t.id = :'third_id';

-- Statuses: rotated out without grace says rotated; during grace, valid.
SELECT status FROM api_token_validate(:'first');
SELECT status FROM api_token_validate(:'second');
SELECT status FROM api_token_validate(:'third');
-- Once the grace has ended (time travel: the grace end is the expiry).
UPDATE api_tokens SET expires_at = now() - interval '1 second' WHERE id = :'second_id';
SELECT status, token_id = :'second_id' AS identified FROM api_token_validate(:'second');
-- A merely revoked or expired token (never rotated) keeps its status.
SELECT token_id AS plain_id, token AS plain
  FROM api_token_create('00000000-0000-0000-0000-0000000000f1', 'never rotated') \gset
SELECT api_token_revoke(:'plain_id');
SELECT status FROM api_token_validate(:'plain');

-- A lineage never forks: rotating a token twice fails (55000), naming the
-- successor; so does rotating one still in its grace period.
\set VERBOSITY sqlstate
SELECT * FROM api_token_rotate(:'first_id');
\set VERBOSITY terse
SELECT set_config('lineage.second_id', :'second_id', false) IS NOT NULL AS ok,
       set_config('lineage.third_id', :'third_id', false) IS NOT NULL AS ok;
DO $$
DECLARE
    d text;
BEGIN
    PERFORM api_token_rotate(current_setting('lineage.second_id')::uuid);
EXCEPTION WHEN object_not_in_prerequisite_state THEN
    GET STACKED DIAGNOSTICS d = PG_EXCEPTION_DETAIL;
    RAISE NOTICE 'detail names the successor: %',
        d = format('Its successor is token %s.', current_setting('lineage.third_id'));
END
$$;
SELECT count(*) AS successors_of_second FROM api_token_rotations WHERE predecessor_id = :'second_id';

-- Rotation with an expiry of its own.
BEGIN;
SELECT token_id AS fourth_id, token AS fourth
  FROM api_token_rotate(:'third_id', '0', now() + interval '7 days') \gset
SELECT expires_at = now() + interval '7 days' AS own_expiry FROM api_tokens WHERE id = :'fourth_id';
COMMIT;
\set VERBOSITY sqlstate
SELECT * FROM api_token_rotate(:'fourth_id', '0', now() - interval '1 day');
\set VERBOSITY terse

-------------------------------------------------------------------------------
-- Reuse detection: a rotated-out token presented after its grace.
-------------------------------------------------------------------------------
-- report (the default): the status, and a reused event (one: the statuses
-- above already reported this token, and within api_tokens.last_used_interval
-- a reuse is reported once).
SHOW api_tokens.rotated_reuse;
SELECT status FROM api_token_validate(:'first');
SELECT event, detail->>'action' AS action, detail->>'successor_id' = :'second_id' AS names_successor
  FROM api_token_events WHERE token_id = :'first_id' AND event = 'reused' ORDER BY id;
-- The successors are untouched.
SELECT status FROM api_token_validate(:'fourth');
-- revoke_family: every active token descended from the reused one is revoked.
SET api_tokens.rotated_reuse = revoke_family;
SELECT status FROM api_token_validate(:'first');
SELECT id = :'fourth_id' AS is_fourth, is_active FROM api_tokens
 WHERE id IN (:'first_id', :'second_id', :'third_id', :'fourth_id') ORDER BY created_at, id;
SELECT detail->>'action' AS action, detail->>'revoked' AS revoked
  FROM api_token_events WHERE token_id = :'first_id' AND event = 'reused' ORDER BY id DESC LIMIT 1;
SELECT detail->>'how' AS how FROM api_token_events
 WHERE token_id = :'fourth_id' AND event = 'revoked';
RESET api_tokens.rotated_reuse;
-- Only superusers may change it.
CREATE ROLE lineage_app;
SET ROLE lineage_app;
SET api_tokens.rotated_reuse = revoke_family;
RESET ROLE;
DROP ROLE lineage_app;

-- A read-only transaction reports the status and writes nothing (without the
-- library preloaded; with it, the worker acts: test/scripts/shared_uses.sh).
SELECT count(*) AS reused_events_before FROM api_token_events WHERE event = 'reused' \gset
BEGIN READ ONLY;
SELECT status FROM api_token_validate(:'first');
COMMIT;
SELECT count(*) - :reused_events_before AS reused_events_written
  FROM api_token_events WHERE event = 'reused';

-- attack_serializable_reuse_write: in a SERIALIZABLE transaction the reuse is
-- not written into the caller's transaction (its writes would join the
-- caller's serialization conflicts), as last-use bookkeeping is not; with
-- the library preloaded the worker acts (test/scripts/shared_uses.sh).
SET api_tokens.last_used_interval = 0;
BEGIN ISOLATION LEVEL SERIALIZABLE;
SELECT status FROM api_token_validate(:'first');
COMMIT;
SET api_tokens.last_used_interval = '1d';
SELECT count(*) - :reused_events_before AS reused_events_written
  FROM api_token_events WHERE event = 'reused';

-- attack_reuse_flood: whoever holds a rotated-out token can present it at any
-- rate; a reuse already reported within api_tokens.last_used_interval (here
-- one day) is not reported again, so no request becomes a write of its own.
SELECT count(*) AS reused_before FROM api_token_events
 WHERE token_id = :'first_id' AND event = 'reused' \gset
SELECT status FROM api_token_validate(:'first');
SELECT status FROM api_token_validate(:'first');
SET api_tokens.rotated_reuse = revoke_family;
SELECT status FROM api_token_validate(:'first');
RESET api_tokens.rotated_reuse;
SELECT count(*) - :reused_before AS reused_events_written FROM api_token_events
 WHERE token_id = :'first_id' AND event = 'reused';
-- With every use recorded (interval 0), each transaction reports it, once
-- however often the token is presented in it.
SET api_tokens.last_used_interval = 0;
BEGIN;
SELECT status FROM api_token_validate(:'first');
SELECT status FROM api_token_validate(:'first');
SELECT status FROM api_token_validate(:'first');
COMMIT;
SELECT status FROM api_token_validate(:'first');
SET api_tokens.last_used_interval = '1d';
SELECT count(*) - :reused_before AS reused_events_written FROM api_token_events
 WHERE token_id = :'first_id' AND event = 'reused';

-------------------------------------------------------------------------------
-- api_token_revoke_family: the whole lineage, from any of its tokens.
-------------------------------------------------------------------------------
SELECT token_id AS f1 FROM api_token_create('00000000-0000-0000-0000-0000000000f1', 'family') \gset
SELECT token_id AS f2 FROM api_token_rotate(:'f1', '1 day') \gset
SELECT token_id AS f3 FROM api_token_rotate(:'f2', '1 day') \gset
SELECT token_id AS other FROM api_token_create('00000000-0000-0000-0000-0000000000f1', 'outside') \gset
SELECT api_token_revoke_family(:'f2') AS revoked;
SELECT count(*) FILTER (WHERE is_active) AS active_in_family
  FROM api_tokens WHERE id IN (:'f1', :'f2', :'f3');
SELECT is_active AS outsider_active FROM api_tokens WHERE id = :'other';
SELECT api_token_revoke_family(:'f3') AS revoked_again;
SELECT api_token_revoke_family('00000000-0000-0000-0000-0000000000ff') AS unknown;
SELECT api_token_revoke_family(:'other') AS alone;
\set VERBOSITY sqlstate
SELECT api_token_revoke_family(NULL);
\set VERBOSITY terse

-- attack_long_lineage: a lineage longer than any walk limit (here 100,001
-- rotations, written by hand) is revoked to its end: family revocation
-- stops at nothing but the end of the lineage or a token already met.
BEGIN;
CREATE TEMP TABLE chain AS
SELECT n, gen_random_uuid() AS id FROM generate_series(0, 100001) AS n;
INSERT INTO api_tokens (id, user_id, name, token_hash, token_prefix, is_active)
SELECT id, '00000000-0000-0000-0000-0000000000f1', 'chain ' || n, md5(id::text) || md5(n::text),
       'chain', n = 100001
  FROM chain;
INSERT INTO api_token_rotations (predecessor_id, successor_id, rotated_at, grace_ends_at)
SELECT a.id, b.id, now(), now() FROM chain a JOIN chain b ON b.n = a.n + 1;
SELECT api_token_revoke_family((SELECT id FROM chain WHERE n = 0)) AS revoked_at_the_end;
SELECT is_active AS last_still_active FROM api_tokens WHERE id = (SELECT id FROM chain WHERE n = 100001);
ROLLBACK;

-- A lineage written by hand into a cycle still ends.
BEGIN;
SELECT token_id AS c1 FROM api_token_create('00000000-0000-0000-0000-0000000000f1', 'c1') \gset
SELECT token_id AS c2 FROM api_token_create('00000000-0000-0000-0000-0000000000f1', 'c2') \gset
INSERT INTO api_token_rotations VALUES (:'c1', :'c2', now(), now()), (:'c2', :'c1', now(), now());
SELECT api_token_revoke_family(:'c1') AS revoked_in_cycle;
ROLLBACK;

-------------------------------------------------------------------------------
-- api_tokens.max_lifetime: a cap on every new token's life.
-------------------------------------------------------------------------------
SET api_tokens.max_lifetime = '30d';
BEGIN;
SELECT token_id AS capped_id
  FROM api_token_create('00000000-0000-0000-0000-0000000000f1', 'no expiry asked') \gset
SELECT expires_at = now() + interval '30 days' AS got_the_limit FROM api_tokens WHERE id = :'capped_id';
COMMIT;
SELECT token_id IS NOT NULL AS within_limit
  FROM api_token_create('00000000-0000-0000-0000-0000000000f1', 'a week', NULL, now() + interval '7 days');
\set VERBOSITY sqlstate
SELECT * FROM api_token_create('00000000-0000-0000-0000-0000000000f1', 'too long', NULL,
                               now() + interval '31 days');
\set VERBOSITY terse
SELECT * FROM api_token_create('00000000-0000-0000-0000-0000000000f1', 'forever', NULL, 'infinity');
-- Rotation: an inherited expiry beyond the limit is brought down to it.
SET api_tokens.max_lifetime = 0;
SELECT token_id AS long_id
  FROM api_token_create('00000000-0000-0000-0000-0000000000f1', 'long', NULL, now() + interval '1 year') \gset
SET api_tokens.max_lifetime = '30d';
BEGIN;
SELECT token_id AS long2_id FROM api_token_rotate(:'long_id') \gset
SELECT expires_at = now() + interval '30 days' AS capped FROM api_tokens WHERE id = :'long2_id';
COMMIT;
\set VERBOSITY sqlstate
SELECT * FROM api_token_rotate(:'long2_id', '0', now() + interval '1 year');
\set VERBOSITY terse
RESET api_tokens.max_lifetime;
-- A duration may be written as a time setting ('30d') or in words.
SET api_tokens.max_lifetime = '365 days';
BEGIN;
SELECT token_id AS year_id
  FROM api_token_create('00000000-0000-0000-0000-0000000000f1', 'a year at most') \gset
SELECT expires_at = now() + interval '365 days' AS got_a_year FROM api_tokens WHERE id = :'year_id';
COMMIT;
\set VERBOSITY sqlstate
SET api_tokens.max_lifetime = 'a year';
SET api_tokens.max_lifetime = '-1d';
\set VERBOSITY terse
RESET api_tokens.max_lifetime;
-- attack_invalid_max_lifetime: a value stored before the library was loaded
-- (ALTER DATABASE cannot check it then) is only warned about when the
-- library loads, and the setting keeps its default, no limit.  Tokens are
-- then not issued at all, rather than issued without the policy.
\c
ALTER DATABASE :"DBNAME" SET api_tokens.max_lifetime = 'one year';
\c
SET client_min_messages = warning;
\set VERBOSITY default
SELECT token_id IS NOT NULL FROM api_token_create('00000000-0000-0000-0000-0000000000f1', 'no policy');
\set VERBOSITY terse
SELECT status FROM api_token_validate(:'third') AS validation_still_works;
ALTER DATABASE :"DBNAME" RESET api_tokens.max_lifetime;
\c
SET api_tokens.last_used_interval = '1d';
SELECT token_id IS NOT NULL AS created_again
  FROM api_token_create('00000000-0000-0000-0000-0000000000f1', 'policy back');
-- Only superusers may change it.
CREATE ROLE lifetime_app;
SET ROLE lifetime_app;
SET api_tokens.max_lifetime = 0;
RESET ROLE;
DROP ROLE lifetime_app;

RESET api_tokens.last_used_interval;
