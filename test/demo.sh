#!/usr/bin/env bash
# Builds and installs api_tokens, then shows it at work on a throwaway
# cluster: create a user, issue a token, validate it, revoke it.  Run as
# root on Debian 12; the cluster is removed when the demo ends.
set -euo pipefail
cd "$(dirname "$0")/.."
. test/lib/packages.sh
. test/lib/build.sh

# (API_TOKENS_DEMO_NO_BUILD=1: already built and installed, as by the test suite.)
if [ -z "${API_TOKENS_DEMO_NO_BUILD:-}" ]; then
	echo "== building and installing api_tokens"
	build_and_install 15
fi

. test/lib/cluster.sh
cluster_init demo
cluster_start demo
cluster_env demo

echo "== demo on a throwaway cluster ($PGHOST, port $PGPORT)"
psql -X -v ON_ERROR_STOP=1 --echo-queries -v VERBOSITY=terse <<'SQL'
-- The application's users table, then the extension in a schema of its own.
CREATE TABLE public.users (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), email text NOT NULL UNIQUE);
CREATE SCHEMA api_tokens;
SET api_tokens.users_table = 'public.users';
CREATE EXTENSION api_tokens SCHEMA api_tokens;
INSERT INTO public.users (email) VALUES ('ada@example.com') RETURNING id AS user_id \gset

-- Issue a token: the plaintext is shown once, only its SHA-256 is stored.
SELECT token_id, token
  FROM api_tokens.api_token_create(:'user_id'::uuid, 'deploy key'::text, ARRAY['repo:read']::text[],
                                   now() + interval '90 days') \gset
\echo token issued: :token
SELECT name, token_prefix, scopes, expires_at::date, token_hash FROM api_tokens.api_tokens;

-- Validate it, as the API would on every request.
SELECT status, token_id, user_id, scopes
  FROM api_tokens.api_token_validate(:'token'::text, ARRAY['repo:read']::text[]);
SELECT status FROM api_tokens.api_token_validate(:'token'::text, ARRAY['repo:write']::text[]);
SELECT status FROM api_tokens.api_token_validate('pat_not-a-real-token'::text, NULL::text[]);
SELECT last_used_at IS NOT NULL AS last_use_recorded FROM api_tokens.api_tokens;

-- Revoke it: the next validation says so.
SELECT api_tokens.api_token_revoke(:'token_id'::uuid);
SELECT status FROM api_tokens.api_token_validate(:'token'::text, NULL::text[]);
SQL
echo "== demo finished; the throwaway cluster is being removed"
