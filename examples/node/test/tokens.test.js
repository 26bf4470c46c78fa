'use strict';
// Runs against the database given by the PG* environment variables, as a
// role that may CREATE EXTENSION (schema.sql is applied first).
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { randomUUID } = require('node:crypto');
const { Pool } = require('pg');
const { SCHEMA, createToken, validateToken, revokeToken, authenticate } = require('..');

const pool = new Pool();
let userId;

before(async () => {
  await pool.query(SCHEMA);
  const { rows: [user] } = await pool.query(
    'INSERT INTO public.users (email) VALUES ($1) RETURNING id', [`${randomUUID()}@example.com`]);
  userId = user.id;
});

after(() => pool.end());

test('a new token is valid and carries its user and scopes', async () => {
  const { id, token } = await createToken(pool, userId, 'ci', ['deploy']);
  assert.match(token, /^pat_[0-9A-Za-z]{36}$/);
  const v = await validateToken(pool, token, ['deploy']);
  assert.deepEqual(v, { status: 'valid', token_id: id, user_id: userId, scopes: ['deploy'] });
});

test('a missing scope is insufficient_scope, and 403', async () => {
  const { token } = await createToken(pool, userId, 'read only', ['read']);
  assert.equal((await validateToken(pool, token, ['write'])).status, 'insufficient_scope');
  assert.equal((await authenticate(pool, `Bearer ${token}`, ['write'])).httpStatus, 403);
  assert.equal((await authenticate(pool, `Bearer ${token}`, ['read'])).userId, userId);
});

test('a revoked token is inactive, and 401', async () => {
  const { id, token } = await createToken(pool, userId, 'laptop');
  assert.equal(await revokeToken(pool, id), true);
  assert.equal(await revokeToken(pool, id), false); // already revoked
  const v = await validateToken(pool, token);
  assert.equal(v.status, 'inactive');
  assert.equal(v.token_id, id);
  assert.equal((await authenticate(pool, `Bearer ${token}`)).httpStatus, 401);
});

test('malformed and unknown tokens, and 401', async () => {
  for (const junk of ['', 'pat_garbage', 'Robert\'); DROP TABLE users;--', null]) {
    assert.equal((await validateToken(pool, junk)).status, 'malformed');
  }
  const { rows: [{ token }] } = await pool.query('SELECT api_tokens.api_token_generate() AS token');
  assert.equal((await validateToken(pool, token)).status, 'unknown');
  assert.equal((await authenticate(pool, `Bearer ${token}`)).httpStatus, 401);
  assert.equal((await authenticate(pool, undefined)).httpStatus, 401);
});
