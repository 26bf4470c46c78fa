#!/usr/bin/env bash
# The README's pg_cron schedule, run for real by Debian's pg_cron
# (postgresql-15-cron): a purge job, SELECT api_tokens_purge('30 days'), and
# an expiry-notices job that copies api_tokens_expiring('7 days') into an
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
cluster_init cron
cluster_configure cron "
shared_preload_libraries = 'pg_cron'
cron.database_name = 'postgres'
cron.use_background_workers = on
"
cluster_start cron
cluster_env cron
psql="psql -X -q -v ON_ERROR_STOP=1"
started=$SECONDS

$psql -c "CREATE DATABASE app"
$psql -c "CREATE EXTENSION pg_cron"

# The application: users, the extension, the notices table, and the role
# that owns the jobs.  pg_cron runs a job as a role with LOGIN (it refuses
# others when the job is scheduled); this one has no password, so it cannot
# log in from outside under password or peer authentication.
$psql -d app >/dev/null <<'SQL'
CREATE TABLE users (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), email text NOT NULL);
CREATE EXTENSION api_tokens;
CREATE TABLE token_expiry_notices (
    token_id   uuid        PRIMARY KEY,
    user_id    uuid        NOT NULL,
    expires_at timestamptz NOT NULL,
    noticed_at timestamptz NOT NULL DEFAULT now()
);
CREATE ROLE token_jobs LOGIN;
GRANT EXECUTE ON FUNCTION api_tokens_purge(interval), api_tokens_expiring(interval) TO token_jobs;
GRANT INSERT ON token_expiry_notices TO token_jobs;

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
app() { $psql -d app -At -c "$1"; }
[ "$(app "SELECT count(*) FROM api_tokens_expiring('7 days')")" = 1 ] ||
	fail "the fixture should have exactly one token expiring within 7 days"
echo "ok: fixture: 6 tokens (active, revoked 40 and 5 days ago, expired 40 days ago, expiring in 3 and 20 days)"

# The jobs, exactly as the README shows them.  The README schedules them
# daily ('17 3 * * *' and '23 3 * * *', in GMT: pg_cron 1.4 has no time zone
# setting); here they run every minute, the finest schedule of pg_cron 1.4
# (Debian 12's; 'N seconds' schedules came with pg_cron 1.5).  A superuser
# schedules them, in the pg_cron database, for the application database,
# with token_jobs as their owner: they run as token_jobs, which needs no
# privilege on pg_cron itself.  The notices job names no conflict target:
# ON CONFLICT (token_id) would need SELECT on token_id too (42501 without
# it), and the primary key is the table's only unique constraint anyway.
purge_command="SELECT api_tokens_purge('30 days')"
notices_command="INSERT INTO token_expiry_notices (token_id, user_id, expires_at)
SELECT token_id, user_id, expires_at FROM api_tokens_expiring('7 days')
ON CONFLICT DO NOTHING"
schedule='* * * * *'
$psql -v schedule="$schedule" -v purge="$purge_command" -v notices="$notices_command" >/dev/null <<'SQL'
SELECT cron.schedule_in_database('api_tokens_purge', :'schedule', :'purge', 'app', 'token_jobs');
SELECT cron.schedule_in_database('api_tokens_expiry_notices', :'schedule', :'notices', 'app', 'token_jobs');
SQL
[ "$($psql -At -c "SELECT string_agg(jobname || ' ' || database || ' ' || username, ', ' ORDER BY jobname) FROM cron.job")" = \
	"api_tokens_expiry_notices app token_jobs, api_tokens_purge app token_jobs" ] ||
	fail "unexpected cron.job: $($psql -At -c "TABLE cron.job")"
echo "ok: both jobs scheduled in app, owned by token_jobs, every minute"

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
		[ "$done_count" = 2 ] && return 0
		if [ "$SECONDS" -ge "$deadline" ]; then
			$psql -c "SELECT jobid, runid, status, return_message, start_time, end_time FROM cron.job_run_details" >&2
			fail "no $n succeeded run(s) of each job within 90 s"
		fi
		sleep 1
	done
}

# state: the tokens left, the purged events, the notices.
state() {
	$psql -d app -At <<'SQL'
SELECT 'tokens', string_agg(f.label, ',' ORDER BY f.label) FROM fixture f JOIN api_tokens t ON t.id = f.token_id;
SELECT 'purged', string_agg(f.label || ':' || (e.detail ->> 'reason') || ':' || e.db_user, ',' ORDER BY f.label)
  FROM api_token_events e JOIN fixture f USING (token_id) WHERE e.event = 'purged';
SELECT 'purged events', count(*) FROM api_token_events WHERE event = 'purged';
SELECT 'notices', string_agg(f.label || ':' || (n.expires_at = t.expires_at) || ':' || (n.user_id = t.user_id)
                             || ':' || n.noticed_at, ',' ORDER BY f.label)
  FROM token_expiry_notices n LEFT JOIN fixture f USING (token_id) LEFT JOIN api_tokens t ON t.id = n.token_id;
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

wait_for_runs 2
echo "ok: a second succeeded run of each job after $((SECONDS - started)) s"
second=$(state)
[ "$second" = "$first" ] || fail "the second run changed something: $(diff <(echo "$first") <(echo "$second") || true)"
echo "ok: the second run purged nothing more and added no duplicate notice"

$psql >/dev/null <<'SQL'
SELECT cron.unschedule(jobid) FROM cron.job WHERE jobname IN ('api_tokens_purge', 'api_tokens_expiry_notices');
SQL
[ "$($psql -At -c "SELECT count(*) FROM cron.job")" = 0 ] || fail "jobs left after unscheduling"
echo "ok: both jobs unscheduled"

cluster_assert_no_crash cron
echo "pg_cron: all checks passed"
