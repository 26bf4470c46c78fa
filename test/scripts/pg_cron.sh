#!/usr/bin/env bash
# versions: 15
# The pg_cron jobs of docs/lifecycle.md, run for real by Debian's pg_cron
# (postgresql-15-cron), from the blocks of that page (read with
# test/lib/doc_blocks.py): the server settings, the application database's
# notices table and job role, the schedule (every minute instead of daily),
# the query of the runs, the unscheduling.  The jobs: a purge, and an
# expiry-notices job that copies api_tokens_expiring('7 days') into an
# application table, both scheduled from the pg_cron database into the
# application database and owned by a role that can do nothing else.  After
# the jobs have run: the tokens revoked or expired long ago are gone, with a
# purged event each recorded by the job's role; active tokens and a token
# revoked recently remain; the notices table holds exactly the token that
# expires within 7 days; and a second run purges nothing more and adds no
# duplicate notice.
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/lib/packages.sh
ensure_packages postgresql-15-cron
. test/lib/cluster.sh

fail() { echo "FAIL: $*" >&2; exit 1; }

cron_version=$(sed -n "s/^default_version = '\(.*\)'/\1/p" "$("$PG_CONFIG" --sharedir)/extension/pg_cron.control")
echo "pg_cron $cron_version ($(dpkg-query -W -f='${Version}' postgresql-15-cron))"

# pg_cron runs each job either in a libpq connection it opens as the job's
# role (the default), or in a background worker of the server
# (cron.use_background_workers = on).  A libpq connection has to pass
# pg_hba.conf: cron.host defaults to localhost, which this socket-only
# cluster does not listen on (every run fails with "connection failed");
# cron.host = '<socket directory>' works here only because this cluster
# trusts every local connection.  With Debian's default pg_hba.conf (peer on
# the socket, scram-sha-256 over TCP) a role such as token_jobs can only get
# in with a password in the postgres OS user's ~/.pgpass.  A background
# worker needs no authentication, no host and no password, and works the same
# here and on a stock Debian server, so the test uses what the README
# recommends.  It costs one worker process per running job, taken from
# max_worker_processes (default 8; the launcher takes one more).
# cron.database_name is where CREATE EXTENSION pg_cron goes; the jobs run
# in the application database through cron.schedule_in_database.
block() { /usr/bin/python3 test/lib/doc_blocks.py extract docs/lifecycle.md "$1"; }
cluster_init cron
cluster_configure cron "$(block cron-conf)"
cluster_start cron
cluster_env cron
psql="psql -X -q -v ON_ERROR_STOP=1"
started=$SECONDS

$psql -c "CREATE DATABASE app"

# The application: users, the extension, the notices table, and the role
# that owns the jobs.  pg_cron runs a job as a role with LOGIN (it refuses
# others when the job is scheduled); this one has no password, so it cannot
# log in from outside under password or peer authentication.
$psql -d app >/dev/null <<'SQL'
CREATE TABLE public.users (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), email text NOT NULL);
CREATE SCHEMA api_tokens;
SET api_tokens.users_table = 'public.users';
CREATE EXTENSION api_tokens SCHEMA api_tokens;
SQL
$psql -d app >/dev/null <<<"$(block cron-app)"
# This test's own queries find the extension's objects by search_path; the
# jobs name their schema (and would fail without it: none is set for them).
app_psql() { PGOPTIONS="-c search_path=public,api_tokens" $psql -d app "$@"; }
app_psql >/dev/null <<'SQL'
INSERT INTO users (email) VALUES ('ada@example.com'), ('bob@example.com');
CREATE TABLE fixture (label text PRIMARY KEY, token_id uuid NOT NULL);
INSERT INTO fixture
SELECT f.label, c.token_id
  FROM (VALUES ('active', 'ada@example.com', NULL::interval),
               ('revoked_long_ago', 'ada@example.com', NULL),
               ('revoked_recently', 'bob@example.com', NULL),
               ('expired_long_ago', 'bob@example.com', '1 day'),
               ('expiring_in_3_days', 'ada@example.com', '3 days'),
               ('expiring_in_20_days', 'bob@example.com', '20 days')) f(label, email, lifetime)
  JOIN users u ON u.email = f.email,
       LATERAL api_token_create(u.id, f.label, '{read}', now() + f.lifetime) c;

SELECT api_token_revoke(token_id) FROM fixture WHERE label IN ('revoked_long_ago', 'revoked_recently');
-- The extension dates a revocation by the token's latest revoked event.
UPDATE api_token_events SET at = now() - interval '40 days'
 WHERE event = 'revoked' AND token_id = (SELECT token_id FROM fixture WHERE label = 'revoked_long_ago');
UPDATE api_token_events SET at = now() - interval '5 days'
 WHERE event = 'revoked' AND token_id = (SELECT token_id FROM fixture WHERE label = 'revoked_recently');
UPDATE api_tokens SET created_at = now() - interval '60 days', expires_at = now() - interval '40 days'
 WHERE id = (SELECT token_id FROM fixture WHERE label = 'expired_long_ago');
SQL
app() { app_psql -At -c "$1"; }
[ "$(app "SELECT count(*) FROM api_tokens_expiring('7 days')")" = 1 ] ||
	fail "the fixture should have exactly one token expiring within 7 days"
echo "ok: fixture: 6 tokens (active, revoked 40 and 5 days ago, expired 40 days ago, expiring in 3 and 20 days)"

# The jobs, exactly as docs/lifecycle.md shows them, but every minute, the
# finest schedule of pg_cron 1.4 (Debian 12's; 'N seconds' schedules came
# with pg_cron 1.5).  A superuser schedules them, in the pg_cron database,
# for the application database, with token_jobs as their owner: they run as
# token_jobs, which needs no privilege on pg_cron itself.
schedule=$(block cron-schedule)
{ grep -q "'17 3 \* \* \*'" <<<"$schedule" && grep -q "'23 3 \* \* \*'" <<<"$schedule" &&
	grep -q "'29 3 \* \* \*'" <<<"$schedule"; } || fail "the documented schedules changed: update this test"
$psql >/dev/null <<<"$(sed "s/'17 3 \* \* \*'/'* * * * *'/; s/'23 3 \* \* \*'/'* * * * *'/; s/'29 3 \* \* \*'/'* * * * *'/" <<<"$schedule")"
[ "$($psql -At -c "SELECT string_agg(jobname || ' ' || database || ' ' || username, ', ' ORDER BY jobname) FROM cron.job")" = \
	"api_tokens_expiry_notices app token_jobs, api_tokens_notices app token_jobs, api_tokens_purge app token_jobs" ] ||
	fail "unexpected cron.job: $($psql -At -c "TABLE cron.job")"
echo "ok: the three jobs scheduled in app, owned by token_jobs, every minute"

# wait_for_runs N: waits until each job has N finished runs, at most 90 s
# (a run starts at each minute); fails with the message of a failed run.
wait_for_runs() {
	local n=$1 deadline=$((SECONDS + 90)) failed done_count
	while :; do
		failed=$($psql -At -c "SELECT j.jobname || ' (' || d.username || ' in ' || d.database || '): '
			|| coalesce(d.return_message, '') FROM cron.job_run_details d JOIN cron.job j USING (jobid)
			WHERE d.status = 'failed'")
		[ -z "$failed" ] || fail "a pg_cron run failed: $failed"
		done_count=$($psql -At -c "SELECT count(*) FROM cron.job j
			WHERE (SELECT count(*) FROM cron.job_run_details d
			        WHERE d.jobid = j.jobid AND d.status = 'succeeded') >= $n")
		[ "$done_count" = 3 ] && return 0
		if [ "$SECONDS" -ge "$deadline" ]; then
			$psql -c "SELECT jobid, runid, status, return_message, start_time, end_time FROM cron.job_run_details" >&2
			fail "no $n succeeded run(s) of each job within 90 s"
		fi
		sleep 1
	done
}

# state: the tokens left, the purged events, the notices.
state() {
	app_psql -At <<'SQL'
SELECT 'tokens', string_agg(f.label, ',' ORDER BY f.label) FROM fixture f JOIN api_tokens t ON t.id = f.token_id;
SELECT 'purged', string_agg(f.label || ':' || (e.detail ->> 'reason') || ':' || e.db_user, ',' ORDER BY f.label)
  FROM api_token_events e JOIN fixture f USING (token_id) WHERE e.event = 'purged';
SELECT 'purged events', count(*) FROM api_token_events WHERE event = 'purged';
SELECT 'notices', string_agg(f.label || ':' || (n.expires_at = t.expires_at) || ':' || (n.user_id = t.user_id)
                             || ':' || n.noticed_at, ',' ORDER BY f.label)
  FROM token_expiry_notices n LEFT JOIN fixture f USING (token_id) LEFT JOIN api_tokens t ON t.id = n.token_id;
SELECT 'notice events', string_agg(f.label || ':' || (e.detail ->> 'offset_seconds') || ':' || e.db_user, ',' ORDER BY f.label)
  FROM api_token_events e JOIN fixture f USING (token_id) WHERE e.event = 'expiry_notice';
SQL
}

wait_for_runs 1
echo "ok: one succeeded run of each job after $((SECONDS - started)) s"
[ "$($psql -At -c "SELECT string_agg(DISTINCT database || ' ' || username, ',') FROM cron.job_run_details")" = "app token_jobs" ] ||
	fail "the runs were not in app as token_jobs"
first=$(state)
echo "$first" | grep -qx "tokens|active,expiring_in_20_days,expiring_in_3_days,revoked_recently" ||
	fail "after the purge job, unexpected tokens left: $first"
echo "ok: the purge job deleted the tokens revoked and expired 40 days ago, kept the active ones and the one revoked 5 days ago"
echo "$first" | grep -qx "purged|expired_long_ago:expired:token_jobs,revoked_long_ago:revoked:token_jobs" ||
	fail "unexpected purged events: $first"
echo "$first" | grep -qx "purged events|2" || fail "unexpected number of purged events: $first"
echo "ok: exactly two purged events (reasons expired and revoked), recorded by token_jobs"
echo "$first" | grep -qx "notices|expiring_in_3_days:true:true:.*" ||
	fail "the notices table should hold exactly the token expiring in 3 days: $first"
echo "ok: the notices job recorded exactly the token expiring in 3 days"
echo "$first" | grep -qx "notice events|expiring_in_20_days:2592000:token_jobs,expiring_in_3_days:604800:token_jobs" ||
	fail "unexpected expiry_notice events: $first"
echo "ok: api_tokens_send_notices recorded the 7-day notice of the token expiring in 3 days and the 30-day one of the token expiring in 20"

wait_for_runs 2
echo "ok: a second succeeded run of each job after $((SECONDS - started)) s"
second=$(state)
[ "$second" = "$first" ] || fail "the second run changed something: $(diff <(echo "$first") <(echo "$second") || true)"
echo "ok: the second run purged nothing more and added no duplicate notice nor notice event"

$psql -At <<<"$(block cron-runs)" | grep -c succeeded | grep -qx 6 || fail "the query of the runs shows no 6 succeeded runs"
echo "ok: the documented query of the runs shows them"
$psql >/dev/null <<<"$(block cron-unschedule)"
[ "$($psql -At -c "SELECT count(*) FROM cron.job")" = 0 ] || fail "jobs left after unscheduling"
echo "ok: the jobs unscheduled"

cluster_assert_no_crash cron
echo "pg_cron: all checks passed"
