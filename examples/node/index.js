'use strict';
// Create, validate and revoke API tokens with node-postgres.  Every value
// goes in as a query parameter ($1, $2, ...): a token spliced into SQL text
// would end up in pg_stat_statements and, on error, in the server log.
// Every function is called by its schema, with its argument types spelled
// out, so that no other function of the same name can be chosen instead;
// results are read by column, never as the composite type.
const fs = require('node:fs');
const path = require('node:path');
const { Pool } = require('pg');

const SCHEMA = fs.readFileSync(path.join(__dirname, 'schema.sql'), 'utf8');

// Returns { id, token }: the plaintext token exists only in this result.
async function createToken(db, userId, name, scopes = null, expiresAt = null) {
  const { rows: [row] } = await db.query(
    'SELECT token_id, token FROM api_tokens.api_token_create($1::uuid, $2::text, $3::text[], $4::timestamptz)',
    [userId, name, scopes, expiresAt]);
  return { id: row.token_id, token: row.token };
}

// Returns { status, token_id, user_id, scopes }; status is one of valid,
// malformed, unknown, inactive, expired, rotated, insufficient_scope.
async function validateToken(db, token, requiredScopes = null) {
  const { rows: [row] } = await db.query(
    'SELECT status, token_id, user_id, scopes FROM api_tokens.api_token_validate($1::text, $2::text[])',
    [token, requiredScopes]);
  return row;
}

// True if the token was active.  Check first that it belongs to the caller:
// the function revokes whatever token id it is given.
async function revokeToken(db, tokenId) {
  const { rows: [row] } = await db.query('SELECT api_tokens.api_token_revoke($1::uuid) AS revoked', [tokenId]);
  return row.revoked;
}

// What an HTTP middleware does with an Authorization header: the HTTP status
// to answer with, and the caller when it is 200.
async function authenticate(db, authorization, requiredScopes) {
  const match = /^Bearer (\S+)$/i.exec(authorization || '');
  if (!match) return { httpStatus: 401 };
  const v = await validateToken(db, match[1], requiredScopes);
  if (v.status === 'valid') return { httpStatus: 200, userId: v.user_id, tokenId: v.token_id };
  if (v.status === 'insufficient_scope') return { httpStatus: 403 };
  return { httpStatus: 401 }; // malformed, unknown, inactive, expired, rotated
}

async function main() {
  const pool = new Pool(); // connection from the PG* environment variables
  try {
    await pool.query(SCHEMA);
    const { rows: [user] } = await pool.query(
      `INSERT INTO public.users (email) VALUES ($1)
       ON CONFLICT (email) DO UPDATE SET email = excluded.email RETURNING id`,
      ['demo@example.com']);

    const { id, token } = await createToken(pool, user.id, 'demo', ['repo:read']);
    console.log(`created token ${id} (${token.slice(0, 8)}...)`);
    for (const scopes of [['repo:read'], ['repo:write']]) {
      console.log(`validate for ${scopes}: ${(await validateToken(pool, token, scopes)).status}`);
    }
    console.log(`revoked: ${await revokeToken(pool, id)}`);
    console.log(`validate after revoke: ${(await validateToken(pool, token)).status}`);
    console.log(`validate garbage: ${(await validateToken(pool, 'pat_garbage')).status}`);
  } finally {
    await pool.end();
  }
}

module.exports = { SCHEMA, createToken, validateToken, revokeToken, authenticate };

if (require.main === module) {
  main().catch((err) => {
    console.error(err);
    process.exitCode = 1;
  });
}
