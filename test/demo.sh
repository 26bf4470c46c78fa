#!/usr/bin/env bash
# Builds and installs api_tokens, then shows it at work on a throwaway
# cluster: create a user, issue a token, validate it, revoke it.  Run as
# root on Debian 12; the cluster is removed when the demo ends.
set -euo pipefail
cd "$(dirname "$0")/.."
. test/lib/packages.sh
. test/lib/build.sh

echo "== building and installing api_tokens"
build_and_install

. test/lib/cluster.sh
cluster_init demo
cluster_start demo
cluster_env demo

echo "== demo on a throwaway cluster ($PGHOST, port $PGPORT)"
psql -X -v ON_ERROR_STOP=1 --echo-queries -v VERBOSITY=terse <<'SQL'
-- The application's users table, then the extension.
CREATE TABLE users (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), email text NOT NULL UNIQUE);
CREATE EXTENSION api_tokens;
INSERT INTO users (email) VALUES ('ada@example.com') RETURNING id AS user_id \gset

-- Issue a token: the plaintext is shown once, only its SHA-256 is stored.
SELECT * FROM api_token_create(:'user_id', 'deploy key', ARRAY['repo:read'], now() + interval '90 days') \gset
\echo token issued: :token
SELECT name, token_prefix, scopes, expires_at::date, token_hash FROM api_tokens;

-- Validate it, as the API would on every request.
SELECT * FROM api_token_validate(:'token', ARRAY['repo:read']);
SELECT status FROM api_token_validate(:'token', ARRAY['repo:write']);
SELECT status FROM api_token_validate('pat_not-a-real-token');
SELECT last_used_at IS NOT NULL AS last_use_recorded FROM api_tokens;

-- Revoke it: the next validation says so.
SELECT api_token_revoke(:'token_id');
SELECT status FROM api_token_validate(:'token');
SQL
echo "== demo finished; the throwaway cluster is being removed"
