-- 1.1: events of every kind, who acted, expiry notices and purging.
\i test/sql/setup/common.sql
\set VERBOSITY terse
SET api_tokens.last_used_interval = '1d';
INSERT INTO users (id, email) VALUES
    ('00000000-0000-0000-0000-0000000000e7', 'events@example.com'),
    ('00000000-0000-0000-0000-0000000000e8', 'purge@example.com');

-------------------------------------------------------------------------------
-- Events: one per token and action, under the token it happened to.
-------------------------------------------------------------------------------
TRUNCATE api_token_events;
SELECT token_id AS a_id, token AS a
  FROM api_token_create('00000000-0000-0000-0000-0000000000e7', 'a', '{read}') \gset
SELECT token_id AS b_id FROM api_token_rotate(:'a_id', '1 hour') \gset
SELECT token_id AS c_id, token AS c FROM api_token_create('00000000-0000-0000-0000-0000000000e7', 'c') \gset
SELECT token_id AS d_id FROM api_token_create('00000000-0000-0000-0000-0000000000e7', 'd') \gset
SELECT api_token_revoke(:'c_id');
SELECT api_token_revoke_leaked(ARRAY[:'c']) AS already_revoked;
SELECT api_token_revoke_user('00000000-0000-0000-0000-0000000000e7') AS revoked;

SELECT CASE token_id WHEN :'a_id' THEN 'a' WHEN :'b_id' THEN 'b' WHEN :'c_id' THEN 'c'
                     WHEN :'d_id' THEN 'd' END AS token,
       event, user_id, detail - 'grace_ends_at' - 'successor_id' - 'rotated_from' AS detail,
       detail->>'successor_id' = :'b_id' AS names_successor,
       detail->>'rotated_from' = :'a_id' AS names_predecessor,
       db_user = session_user AS db_user_recorded, actor
  FROM api_token_events ORDER BY event, token;

-- The application's actor, and the database user even under SET ROLE.
CREATE ROLE events_admin;
GRANT EXECUTE ON FUNCTION api_token_create(uuid, text, text[], timestamptz) TO events_admin;
BEGIN;
SET LOCAL api_tokens.actor = 'admin@example.com via support console';
SET LOCAL ROLE events_admin;
SELECT token_id AS e_id FROM api_token_create('00000000-0000-0000-0000-0000000000e7', 'e') \gset
COMMIT;
SELECT event, actor, db_user = session_user AS session_user_recorded
  FROM api_token_events WHERE token_id = :'e_id';
REVOKE ALL ON FUNCTION api_token_create(uuid, text, text[], timestamptz) FROM events_admin;
DROP ROLE events_admin;
-- The actor is a short label.
\set VERBOSITY sqlstate
SET api_tokens.actor = E'line\nbreak';
SELECT set_config('api_tokens.actor', repeat('x', 201), false);
\set VERBOSITY terse

-- Nothing secret in an event.
SELECT count(*) AS events_with_a_token_or_hash
  FROM api_token_events e, api_tokens t
 WHERE strpos(e::text, t.token_hash) > 0 OR strpos(e::text, :'a') > 0;

-- Append-only for everyone else: PUBLIC may not read or change events.
SELECT has_table_privilege('public', 'api_token_events', 'SELECT') AS public_reads,
       has_table_privilege('public', 'api_token_events', 'INSERT') AS public_inserts,
       has_table_privilege('public', 'api_token_rotations', 'SELECT') AS public_reads_lineage;

-------------------------------------------------------------------------------
-- api_tokens_expiring: active tokens expiring within the interval.
-------------------------------------------------------------------------------
BEGIN;
SELECT token_id AS soon_id
  FROM api_token_create('00000000-0000-0000-0000-0000000000e8', 'soon', NULL, now() + interval '3 days') \gset
SELECT token_id AS later_id
  FROM api_token_create('00000000-0000-0000-0000-0000000000e8', 'later', NULL, now() + interval '20 days') \gset
SELECT token_id AS never_id FROM api_token_create('00000000-0000-0000-0000-0000000000e8', 'never') \gset
SELECT token_id AS gone_id
  FROM api_token_create('00000000-0000-0000-0000-0000000000e8', 'revoked soon', NULL, now() + interval '2 days') \gset
SELECT api_token_revoke(:'gone_id');
SELECT token_id AS rot_id
  FROM api_token_create('00000000-0000-0000-0000-0000000000e8', 'rotated', NULL, now() + interval '4 days') \gset
SELECT token_id AS rot2_id FROM api_token_rotate(:'rot_id', '1 hour') \gset
SELECT e.name, e.token_prefix = t.token_prefix AS prefix_ok, e.expires_at = t.expires_at AS expiry_ok
  FROM api_tokens_expiring('7 days') e JOIN api_tokens t ON t.id = e.token_id
 WHERE e.user_id = '00000000-0000-0000-0000-0000000000e8' ORDER BY e.expires_at;
SELECT count(*) AS within_a_day FROM api_tokens_expiring('1 day')
 WHERE user_id = '00000000-0000-0000-0000-0000000000e8';
COMMIT;
\set VERBOSITY sqlstate
SELECT * FROM api_tokens_expiring(NULL);
SELECT * FROM api_tokens_expiring('-1 day');
\set VERBOSITY terse

-------------------------------------------------------------------------------
-- api_tokens_purge: deletes what has been dead longer than older_than.
-------------------------------------------------------------------------------
-- Dead tokens of every kind, aged by editing the rows and their events.
CREATE TEMP TABLE subjects (label text, id uuid);
INSERT INTO subjects
SELECT label, (SELECT token_id FROM api_token_create('00000000-0000-0000-0000-0000000000e8', label))
  FROM unnest(ARRAY['active', 'revoked long ago', 'revoked lately', 'expired long ago',
                    'expired lately', 'revoked by hand long ago', 'rotated out long ago']) AS label;
SELECT api_token_revoke(id) FROM subjects WHERE label IN ('revoked long ago', 'revoked lately');
UPDATE api_token_events SET at = now() - interval '40 days'
 WHERE event = 'revoked' AND token_id = (SELECT id FROM subjects WHERE label = 'revoked long ago');
UPDATE api_tokens SET expires_at = now() - interval '40 days'
 WHERE id = (SELECT id FROM subjects WHERE label = 'expired long ago');
UPDATE api_tokens SET expires_at = now() - interval '1 day'
 WHERE id = (SELECT id FROM subjects WHERE label = 'expired lately');
UPDATE api_tokens SET is_active = false, created_at = now() - interval '50 days'
 WHERE id = (SELECT id FROM subjects WHERE label = 'revoked by hand long ago');
INSERT INTO subjects
SELECT 'successor', token_id FROM api_token_rotate((SELECT id FROM subjects WHERE label = 'rotated out long ago'));
UPDATE api_token_events SET at = now() - interval '40 days'
 WHERE event = 'rotated' AND token_id = (SELECT id FROM subjects WHERE label = 'rotated out long ago');

-- (Earlier tests left dead tokens too: counts are not shown.)
SELECT api_tokens_purge() > 0 AS purged;
SELECT s.label, t.id IS NOT NULL AS kept
  FROM subjects s LEFT JOIN api_tokens t ON t.id = s.id ORDER BY s.label;
SELECT s.label, e.detail->>'reason' AS reason
  FROM api_token_events e JOIN subjects s ON s.id = e.token_id
 WHERE e.event = 'purged' ORDER BY s.label;
-- The successor lives on, and so does the rotation (until both are gone).
SELECT count(*) AS rotations_left FROM api_token_rotations
 WHERE predecessor_id = (SELECT id FROM subjects WHERE label = 'rotated out long ago');
-- A shorter horizon takes what died lately too; never an active token.
SELECT api_tokens_purge('0') > 0 AS purged_now;
SELECT s.label FROM subjects s JOIN api_tokens t ON t.id = s.id ORDER BY s.label;
SELECT api_tokens_purge('0') AS nothing_left;
-- Both tokens of the rotation purged: the rotation goes with the second.
SELECT api_token_revoke(id) AS successor_revoked FROM subjects WHERE label = 'successor';
SELECT api_tokens_purge('0') AS successor_purged;
SELECT count(*) AS rotations_left FROM api_token_rotations
 WHERE predecessor_id = (SELECT id FROM subjects WHERE label = 'rotated out long ago');
\set VERBOSITY sqlstate
SELECT api_tokens_purge(NULL);
SELECT api_tokens_purge('-1 second');
\set VERBOSITY terse
DROP TABLE subjects;

-------------------------------------------------------------------------------
-- attack_purge_live_lineage: a token rotated with a long grace period whose
-- successor died (revoked, 40 days ago) and is purged.  The rotation stays:
-- the old token, still in its grace period, cannot be rotated a second time
-- (a fork), family revocation still reaches past the purged successor, and
-- once its grace is over the old token says rotated, and its reuse is seen.
-------------------------------------------------------------------------------
SELECT token_id AS q_id, token AS q
  FROM api_token_create('00000000-0000-0000-0000-0000000000e8', 'long grace') \gset
SELECT token_id AS p_id FROM api_token_rotate(:'q_id', '90 days') \gset
SELECT token_id AS s_id FROM api_token_rotate(:'p_id', '90 days') \gset
SELECT api_token_revoke(:'p_id') AS successor_revoked;
UPDATE api_token_events SET at = now() - interval '40 days'
 WHERE token_id = :'p_id' AND event IN ('revoked', 'created', 'rotated');
SELECT api_tokens_purge('30 days') >= 1 AS purged;
SELECT count(*) AS successor_left FROM api_tokens WHERE id = :'p_id';
SELECT api_token_successor(:'q_id') = :'p_id' AS still_rotated_out;
\set VERBOSITY sqlstate
SELECT * FROM api_token_rotate(:'q_id');
\set VERBOSITY terse
SELECT status FROM api_token_validate(:'q') AS during_grace;
SELECT api_token_revoke_family(:'q_id') AS revoked_family;
SELECT id = :'q_id' AS is_q, is_active FROM api_tokens WHERE id IN (:'q_id', :'s_id') ORDER BY 1;
BEGIN;
UPDATE api_tokens SET expires_at = now() - interval '1 day', is_active = true WHERE id = :'q_id';
SELECT status FROM api_token_validate(:'q') AS after_grace;
ROLLBACK;

-------------------------------------------------------------------------------
-- The events table keeps its index on (token_id, at): reuses are throttled by
-- reading a token's recent events through it.  Without it: refused, with the fix.
-------------------------------------------------------------------------------
BEGIN;
DROP INDEX api_token_events_token_id_at_idx;
CREATE INDEX api_token_events_token_id_only ON api_token_events (token_id);
\set VERBOSITY default
SELECT token_id IS NOT NULL AS created
  FROM api_token_create('00000000-0000-0000-0000-0000000000e7', 'no events index');
\set VERBOSITY terse
ROLLBACK;
SELECT token_id IS NOT NULL AS created
  FROM api_token_create('00000000-0000-0000-0000-0000000000e7', 'events index back');

RESET api_tokens.last_used_interval;
