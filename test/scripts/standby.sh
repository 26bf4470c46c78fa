#!/usr/bin/env bash
# versions: 15 17 18
# A primary and a streaming hot standby: validation on the standby works and
# writes nothing; a revocation on the primary is seen on the standby once it
# has replayed that commit; rotation with and without grace behaves the same
# on both.
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/lib/cluster.sh
. test/lib/checks.sh
. test/lib/standby.sh

status_on() { # status_on NODE TOKEN: validate with every use due (interval 0)
	PGOPTIONS="-c api_tokens.last_used_interval=0" psql_on "$1" \
		-c "SELECT status FROM api_token_validate('$2')"
}

cluster_init primary
cluster_configure primary "$primary_settings"
cluster_start primary
psql_on primary >/dev/null <<'SQL'
CREATE TABLE users (id uuid PRIMARY KEY);
CREATE EXTENSION api_tokens;
INSERT INTO users VALUES ('00000000-0000-0000-0000-000000000001');
CREATE TABLE plain AS
  SELECT n, c.* FROM generate_series(1, 4) n,
       LATERAL api_token_create('00000000-0000-0000-0000-000000000001', 'token ' || n, '{read}') c;
SQL
token() { psql_on primary -c "SELECT token FROM plain WHERE n = $1"; }
token_id() { psql_on primary -c "SELECT token_id FROM plain WHERE n = $1"; }

# The standby: a base backup of the primary, streaming from its socket.
standby_create primary standby
expect "standby is in recovery" t "$(psql_on standby -c "SELECT pg_is_in_recovery()")"
wait_for_replay primary standby

# Validation on the standby: valid, no error, no write, in or out of a transaction.
t1=$(token 1)
expect "never-used token validates on the standby" valid "$(status_on standby "$t1")"
expect "validation in a standby transaction" valid "$(PGOPTIONS='-c api_tokens.last_used_interval=0' \
	psql_on standby -c "BEGIN" -c "SELECT status FROM api_token_validate('$t1')" -c "COMMIT")"
wait_for_replay primary standby
expect "no last_used_at written from the standby (primary)" "" \
	"$(psql_on primary -c "SELECT last_used_at FROM api_tokens WHERE id = '$(token_id 1)'")"
expect "no last_used_at written from the standby (standby)" "" \
	"$(psql_on standby -c "SELECT last_used_at FROM api_tokens WHERE id = '$(token_id 1)'")"
# A read-only transaction on the primary writes nothing either.
expect "validation in a read-only transaction on the primary" valid "$(PGOPTIONS='-c api_tokens.last_used_interval=0' \
	psql_on primary -c "BEGIN READ ONLY" -c "SELECT status FROM api_token_validate('$t1')" -c "COMMIT")"
expect "no last_used_at written by the read-only transaction" "" \
	"$(psql_on primary -c "SELECT last_used_at FROM api_tokens WHERE id = '$(token_id 1)'")"
# The primary records the use, and the standby then shows it.
expect "validation on the primary" valid "$(status_on primary "$t1")"
wait_for_replay primary standby
expect "last use recorded on the primary reaches the standby" t \
	"$(psql_on standby -c "SELECT last_used_at IS NOT NULL FROM api_tokens WHERE id = '$(token_id 1)'")"

# Revocation: seen on the standby as soon as it has replayed the commit.
t2=$(token 2)
expect "token 2 valid on the standby" valid "$(status_on standby "$t2")"
expect "revoke on the primary" t "$(psql_on primary -c "SELECT api_token_revoke('$(token_id 2)')")"
wait_for_replay primary standby
expect "revoked token inactive on the standby after replay" inactive "$(status_on standby "$t2")"

# Rotation with grace: old and new both valid on both nodes.
t3=$(token 3)
t3new=$(psql_on primary -c "SELECT token FROM api_token_rotate('$(token_id 3)', '1 hour')")
wait_for_replay primary standby
for node in primary standby; do
	expect "old token valid during grace ($node)" valid "$(status_on $node "$t3")"
	expect "successor valid ($node)" valid "$(status_on $node "$t3new")"
done
# Rotation without grace: the old token is "rotated" (1.1), the new one valid, on both.
t4=$(token 4)
t4new=$(psql_on primary -c "SELECT token FROM api_token_rotate('$(token_id 4)')")
wait_for_replay primary standby
for node in primary standby; do
	expect "old token rotated out, no grace ($node)" rotated "$(status_on $node "$t4")"
	expect "successor valid after rotation ($node)" valid "$(status_on $node "$t4new")"
done
# The grace period ends on the primary: "rotated" on both (1.1; "expired" before).
psql_on primary -c "UPDATE api_tokens SET expires_at = now() - interval '1 s' WHERE id = '$(token_id 3)'"
wait_for_replay primary standby
for node in primary standby; do
	expect "old token rotated out after grace ($node)" rotated "$(status_on $node "$t3")"
done

grep -i "error" "$(cluster_log standby)" && fail "errors in the standby's log"
cluster_assert_no_crash primary
cluster_assert_no_crash standby
echo "standby: all checks passed"
