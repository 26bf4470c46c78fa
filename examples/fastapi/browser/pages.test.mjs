// The example's pages in a real browser: Debian's Chromium (headless),
// driven by playwright-core, against the application served by uvicorn.
// test/scripts/examples.sh starts the server and seeds the users; run by hand:
//
//   BASE_URL=http://127.0.0.1:8000 OUT_DIR=/tmp/shots USER_EMAIL=... USER_PASSWORD=... \
//   ADMIN_EMAIL=... ADMIN_PASSWORD=... USER_BOOTSTRAP_TOKEN=... node --test pages.test.mjs
//
// Every page is saved as a PNG in OUT_DIR.  Every plaintext token the tests
// see is written to OUT_DIR/tokens-seen.txt, so that the script can check
// that none reached a log; every URL the browser requested is checked here
// for tokens and their hashes.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { chromium } from 'playwright-core';

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};
const BASE = env('BASE_URL');
const OUT = env('OUT_DIR');
const user = { email: env('USER_EMAIL'), password: env('USER_PASSWORD') };
const admin = { email: env('ADMIN_EMAIL'), password: env('ADMIN_PASSWORD') };
const bootstrapToken = env('USER_BOOTSTRAP_TOKEN');

let browser, context, page;
const seen = new Set([bootstrapToken]); // plaintext tokens
const urls = []; // every URL the browser requested
const shots = [];

const sha256 = (text) => createHash('sha256').update(text).digest('hex');

async function shot(name) {
  const path = join(OUT, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  shots.push(path);
}

// Status of GET /tokens with a bearer token: the API as a program would use it.
async function api(token) {
  const response = await fetch(`${BASE}/tokens`, { headers: { Authorization: `Bearer ${token}` } });
  return { status: response.status, body: response.status === 200 ? await response.json() : null };
}

// Status of POST /tokens (tokens:write) with a bearer token; nothing is
// created unless it is 201, and then the token is recorded as seen.
async function apiCreate(token) {
  const response = await fetch(`${BASE}/tokens`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ name: 'from the API', scopes: ['tokens:read'], expires_in_seconds: 600 }),
  });
  if (response.status === 201) seen.add((await response.json()).token);
  return response.status;
}

const DAY = 24 * 3600 * 1000;
// A date as the pages show it, "YYYY-MM-DD HH:MM" in UTC.
const shown = (text) => new Date(`${text.replace(' ', 'T').replace(' UTC', '')}:00Z`);

// Submits a form by clicking its button, accepting the confirmation dialog;
// returns the response of the navigation.
async function submit(button) {
  const [response] = await Promise.all([page.waitForNavigation(), button.click()]);
  return response;
}

async function login({ email, password }) {
  await page.goto(`${BASE}/login`);
  await page.fill('input[name=email]', email);
  await page.fill('input[name=password]', password);
  const response = await submit(page.locator('#login button[type=submit]'));
  assert.equal(response.status(), 200);
}

async function logout() {
  await submit(page.locator('form.logout button'));
  assert.equal(new URL(page.url()).pathname, '/login');
}

// Creates a token on the user page; returns its plaintext, read from the page.
async function createToken(name, scopes, days) {
  await page.goto(`${BASE}/settings/tokens`);
  await page.fill('#create-token input[name=name]', name);
  for (const scope of scopes) await page.check(`#create-token input[value="${scope}"]`);
  await page.selectOption('#create-token select[name=expires_days]', String(days));
  const response = await submit(page.locator('#create-token button[type=submit]'));
  assert.equal(response.status(), 200);
  assert.equal((await response.allHeaders())['cache-control'], 'no-store');
  const token = await page.inputValue('#new-token');
  assert.match(token, /^pat_[0-9A-Za-z]{36}$/);
  seen.add(token);
  return token;
}

const row = (token) => page.locator(`tr[data-prefix="${token.slice(0, 8)}"]`);

before(async () => {
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    // playwright-core adds --headless, --no-sandbox (chromiumSandbox is
    // false by default) and a fresh temporary --user-data-dir.
    args: ['--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
  context = await browser.newContext({ viewport: { width: 1280, height: 800 }, locale: 'en-US' });
  context.setDefaultTimeout(10000);
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: BASE });
  page = await context.newPage();
  page.on('dialog', (dialog) => dialog.accept()); // the confirmations of revoke and rotate
  page.on('request', (request) => urls.push(request.url()));
});

after(async () => {
  await browser?.close();
  writeFileSync(join(OUT, 'tokens-seen.txt'), [...seen].join('\n') + '\n');
  console.log(`screenshots: ${shots.join(' ')}`);
});

test('the pages need a login', async () => {
  const response = await page.goto(`${BASE}/settings/tokens`);
  assert.equal(new URL(page.url()).pathname, '/login');
  assert.equal(response.status(), 200);
  await shot('login');
  await login(user);
  assert.equal(new URL(page.url()).pathname, '/settings/tokens');
  assert.equal(await page.textContent('h1'), 'Personal access tokens');
});

let deployToken;
test('create a token: shown once, with a copy button, and it works against the API', async () => {
  deployToken = await createToken('deploy (ci)', ['tokens:read', 'tokens:write'], 90);
  assert.match(await page.textContent('.warning'), /You will not see it again/);
  await shot('token-created');

  await page.click('button[data-copy]');
  await page.locator('button[data-copy]', { hasText: 'Copied' }).waitFor();
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), deployToken);

  const { status, body } = await api(deployToken);
  assert.equal(status, 200);
  const listed = body.find((t) => t.prefix === deployToken.slice(0, 8));
  assert.equal(listed.name, 'deploy (ci)');
  assert.deepEqual(listed.scopes, ['tokens:read', 'tokens:write']);
});

test('the list shows the prefix and dates, never the token', async () => {
  await page.goto(`${BASE}/settings/tokens`);
  const html = await page.content();
  assert.ok(!html.includes(deployToken));
  assert.ok(!html.includes(sha256(deployToken)));
  await assertRow(deployToken, 'deploy (ci)', 'active');
  // Last used: by the API call above, written at once or, with the library
  // preloaded, by the extension's background worker within
  // api_tokens.flush_interval.
  const lastUsed = () => row(deployToken).locator('td.when').nth(1).textContent();
  for (let tries = 0; tries < 50 && (await lastUsed()) === 'never'; tries++) {
    await new Promise((resolve) => setTimeout(resolve, 200));
    await page.reload();
  }
  assert.match(await lastUsed(), /^\d{4}-\d\d-\d\d \d\d:\d\d$/);
});

// The row of a token: its name and status, and for a token rotated out in
// its grace period, "rotated (grace until ...)".
async function assertRow(token, name, status, { inGrace = false } = {}) {
  const r = row(token);
  assert.equal(await r.locator('td.name .name-text').textContent(), name);
  assert.equal(await r.locator('.status').textContent(), status);
  if (inGrace) {
    assert.match((await r.locator('.status').locator('xpath=..').textContent()).trim(),
      /^rotated \(grace until \d{4}-\d\d-\d\d \d\d:\d\d\)$/);
  }
  assert.equal(await r.locator('.grace').count(), inGrace ? 1 : 0);
}

test('revoke in the page, and the API refuses the token', async () => {
  const laptop = await createToken('old laptop', ['tokens:read'], 30);
  assert.equal((await api(laptop)).status, 200);
  await page.goto(`${BASE}/settings/tokens`);
  const response = await submit(row(laptop).locator('form.revoke button'));
  assert.equal(response.status(), 200);
  assert.match(await page.textContent('.notice'), /Token revoked/);
  await assertRow(laptop, 'old laptop', 'revoked');
  assert.equal((await api(laptop)).status, 401);
});

// Rotates a token on the user page; returns the replacement's plaintext.
async function rotate(old, { grace, days }) {
  await page.goto(`${BASE}/settings/tokens`);
  await row(old).locator('details.rotate summary').click(); // Rotate…: the choices
  await row(old).locator('select[name=grace_seconds]').selectOption(String(grace));
  await row(old).locator('select[name=expires_days]').selectOption(days ? String(days) : '');
  const response = await submit(row(old).locator('form.rotate button'));
  assert.equal(response.status(), 200);
  assert.equal((await response.allHeaders())['cache-control'], 'no-store');
  assert.equal(await page.textContent('h1'), 'Your replacement token');
  const token = await page.inputValue('#new-token');
  assert.match(token, /^pat_[0-9A-Za-z]{36}$/);
  seen.add(token);
  assert.notEqual(token, old);
  return token;
}

let staging, rotated;
test('rotate with a grace period and a new expiry: both work, the old one only reads, until it ends', async () => {
  staging = await createToken('staging', ['tokens:read', 'tokens:write'], 7);
  const started = Date.now();
  rotated = await rotate(staging, { grace: 3600, days: 90 });
  const facts = await page.textContent('dl.facts');
  const [, expires] = facts.match(/Expires\s*(\d{4}-\d\d-\d\d \d\d:\d\d UTC)/);
  const [, stops] = facts.match(/stops working (\d{4}-\d\d-\d\d \d\d:\d\d UTC)/);
  // 90 days from now (not the old token's 7), and the old one in an hour.
  assert.ok(Math.abs(shown(expires) - started - 90 * DAY) < 2 * 60000, expires);
  assert.ok(Math.abs(shown(stops) - started - 3600000) < 2 * 60000, stops);
  await shot('token-rotated');

  assert.equal((await api(staging)).status, 200);
  assert.equal((await api(rotated)).status, 200);
  // In its grace period, the old token may read, and nothing more.
  assert.equal(await apiCreate(staging), 403);
  assert.equal(await apiCreate(rotated), 201);
});

test('the list shows rotated tokens, and until when one in its grace period works', async () => {
  // And one rotated at once, keeping its expiry: the old one stops now.
  const nightly = await createToken('nightly backup', ['tokens:read'], 30);
  await page.goto(`${BASE}/settings/tokens`);
  const nightlyExpires = await row(nightly).locator('td.when').nth(2).textContent();
  const replacement = await rotate(nightly, { grace: 0 });
  assert.equal((await api(nightly)).status, 401);

  await page.goto(`${BASE}/settings/tokens`);
  await assertRow(staging, 'staging', 'rotated', { inGrace: true });
  await assertRow(rotated, 'staging', 'active');
  await assertRow(nightly, 'nightly backup', 'rotated');
  await assertRow(replacement, 'nightly backup', 'active');
  // A token is rotated once; one in its grace period may still be revoked early.
  assert.equal(await row(staging).locator('details.rotate').count(), 0);
  assert.equal(await row(staging).locator('form.revoke').count(), 1);
  assert.equal(await row(nightly).locator('form').count(), 0);
  // The replacement kept the expiry of the token it replaced, which now
  // shows none, and each names the other's prefix.
  assert.equal(await row(replacement).locator('td.when').nth(2).textContent(), nightlyExpires);
  assert.equal((await row(nightly).locator('td.when').nth(2).textContent()).trim(), '—');
  assert.match(await row(replacement).locator('.lineage').textContent(), new RegExp(`replaces ${nightly.slice(0, 8)}…`));
  assert.match(await row(nightly).locator('.lineage').textContent(),
    new RegExp(`replaced by ${replacement.slice(0, 8)}…`));
  // The choices of a rotation, open for the screenshot.
  await row(deployToken).locator('details.rotate summary').click();
  await shot('tokens');
});

test('a forged form is refused (CSRF), in the page and from another origin', async () => {
  await page.goto(`${BASE}/settings/tokens`);
  const target = row(deployToken).locator('form.revoke');
  await target.locator('input[name=csrf_token]').evaluate((input) => { input.value = 'forged'; });
  const response = await submit(target.locator('button'));
  assert.equal(response.status(), 403);
  assert.match(await page.textContent('#error-message'), /CSRF check failed/);
  await shot('csrf-refused');
  assert.equal((await api(deployToken)).status, 200);

  // An attacker's page on another origin posts the revocation: the session
  // cookie is sent (same site, other port), the Origin header gives it away.
  await page.goto(`${BASE}/settings/tokens`);
  const id = await row(deployToken).getAttribute('data-token-id');
  const evil = createServer((req, res) => {
    res.setHeader('Content-Type', 'text/html');
    res.end(`<form method="post" action="${BASE}/settings/tokens/${id}/revoke">
      <input type="hidden" name="csrf_token" value="guessed"></form>
      <script>document.forms[0].submit()</script>`);
  });
  await new Promise((resolve) => evil.listen(0, '127.0.0.1', resolve));
  try {
    const [answer] = await Promise.all([
      page.waitForResponse((r) => r.url().endsWith(`/settings/tokens/${id}/revoke`)),
      page.goto(`http://127.0.0.1:${evil.address().port}/`),
    ]);
    assert.equal(answer.status(), 403);
    await page.waitForLoadState();
    assert.match(await page.textContent('#error-message'), /Cross-site request refused/);
  } finally {
    evil.close();
  }
  assert.equal((await api(deployToken)).status, 200);
});

test('reloading the page of a new token makes no other token', async () => {
  const before = (await api(rotated)).body.length;
  await createToken('reloaded', ['tokens:read'], 7);
  // The browser sends the form again (a reload of a POST's answer).
  const response = await page.reload();
  assert.equal(new URL(page.url()).pathname, '/settings/tokens');
  assert.equal(response.status(), 200);
  assert.match(await page.textContent('.notice'), /already sent/);
  assert.equal((await api(rotated)).body.length, before + 1);
});

test('long names wrap within the page; invisible ones are refused', async () => {
  const long = await createToken('x'.repeat(100), ['tokens:read'], 7);
  const spaced = await createToken('deploy to the staging cluster in eu-west, from the nightly pipeline, '
    + 'as the robot', ['tokens:read'], 7);
  await page.goto(`${BASE}/settings/tokens`);
  assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth));
  for (const token of [long, spaced]) {
    for (const cell of [row(token).locator('.status'), row(token).locator('form.revoke button')]) {
      const box = await cell.boundingBox();
      assert.ok(box && box.x >= 0 && box.x + box.width <= 1280, `${JSON.stringify(box)} off the page`);
    }
  }
  await page.fill('#create-token input[name=name]', '\u3164\u3164');
  await page.check('#create-token input[value="tokens:read"]');
  const response = await submit(page.locator('#create-token button[type=submit]'));
  assert.equal(response.status(), 422);
  assert.match(await page.textContent('#create-token .error, .card .error'), /invisible characters/);
  await shot('tokens-long-names');
});

test('logging out ends the session in another browser that has its cookie', async () => {
  const stolen = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  try {
    await stolen.addCookies(await context.cookies());
    const other = await stolen.newPage();
    await other.goto(`${BASE}/settings/tokens`);
    assert.equal(new URL(other.url()).pathname, '/settings/tokens');
    await page.goto(`${BASE}/settings/tokens`);
    await logout();
    await other.reload();
    assert.equal(new URL(other.url()).pathname, '/login');
  } finally {
    await stolen.close();
  }
  await login(user);
});

test('at phone width (390 px) nothing spills out or is covered', async () => {
  const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
  try {
    const small = await phone.newPage();
    small.on('request', (request) => urls.push(request.url()));
    await small.goto(`${BASE}/login`);
    await small.fill('input[name=email]', user.email);
    await small.fill('input[name=password]', user.password);
    await Promise.all([small.waitForNavigation(), small.click('#login button[type=submit]')]);
    assert.equal(new URL(small.url()).pathname, '/settings/tokens');
    const fits = () => small.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth);
    assert.ok(await fits(), 'the page is wider than the screen');
    const logoutBox = await small.locator('form.logout button').boundingBox();
    assert.ok(logoutBox.x >= 0 && logoutBox.x + logoutBox.width <= 390, JSON.stringify(logoutBox));
    // The choices of a rotation open in the flow of the page, in full view.
    const active = small.locator(`tr[data-prefix="${deployToken.slice(0, 8)}"]`);
    await active.locator('details.rotate summary').click();
    const button = active.locator('form.rotate button');
    await button.scrollIntoViewIfNeeded();
    const box = await button.boundingBox();
    assert.ok(box.x >= 0 && box.x + box.width <= 390, JSON.stringify(box));
    const onTop = await small.evaluate(([x, y]) => document.elementFromPoint(x, y)?.closest('form.rotate') !== null,
      [box.x + box.width / 2, box.y + box.height / 2]);
    assert.ok(onTop, 'the Rotate button is covered');
    assert.ok(await fits(), 'the open choices are wider than the screen');
    // For the screenshot: the top of the page, the first token's choices open.
    await active.locator('details.rotate summary').click();
    await small.locator('details.rotate summary').first().click();
    await small.evaluate(() => window.scrollTo(0, 0));
    await small.screenshot({ path: join(OUT, 'tokens-phone.png'), fullPage: true,
      clip: { x: 0, y: 0, width: 390, height: 1400 } });
    shots.push(join(OUT, 'tokens-phone.png'));
  } finally {
    await phone.close();
  }
});

test('the admin page is for administrators only', async () => {
  const response = await page.goto(`${BASE}/admin/tokens`);
  assert.equal(response.status(), 403);
  assert.equal(await page.locator('nav a[href="/admin/tokens"]').count(), 0);
});

test('admin: search by prefix, revoke pasted leaked tokens, a family, all of a user', async () => {
  await page.goto(`${BASE}/settings/tokens`);
  await logout();
  await login(admin);
  await page.click('nav a[href="/admin/tokens"]');
  assert.equal(await page.textContent('h1'), 'All tokens');

  // A whole token pasted into the search box: the box keeps its prefix, so
  // the token never reaches the URL.
  await page.focus('#search input[name=prefix]');
  await page.keyboard.insertText(deployToken);
  await submit(page.locator('#search button[type=submit]'));
  assert.equal(new URL(page.url()).searchParams.get('prefix'), deployToken.slice(0, 8));
  assert.equal(await page.locator('table.tokens tbody tr').count(), 1);
  assert.match(await row(deployToken).textContent(), new RegExp(user.email.replace('.', '\\.')));
  await shot('admin-search');

  // Leaked tokens, pasted: the user's bootstrap token is ours and revoked.
  assert.equal((await api(bootstrapToken)).status, 200);
  await page.fill('#leaked textarea', `${bootstrapToken}\nnot-a-token`);
  await submit(page.locator('#leaked button[type=submit]'));
  assert.match(await page.textContent('.notice'), /2 checked: 1 of ours \(1 revoked now, 0 already inactive\), 1 not ours/);
  assert.equal((await api(bootstrapToken)).status, 401);
  assert.ok(!(await page.content()).includes(bootstrapToken));

  // Every token of the user, found by email.
  await page.fill('#search input[name=prefix]', '');
  await page.fill('#search input[name=user]', user.email);
  await submit(page.locator('#search button[type=submit]'));
  await assertRow(staging, 'staging', 'rotated', { inGrace: true });
  await shot('admin');

  // The family of the rotated staging token: it, in its grace period, and its successor.
  assert.equal(await row(deployToken).locator('form.revoke-family').count(), 0); // never rotated
  await submit(row(staging).locator('form.revoke-family button'));
  assert.match(await page.textContent('.notice'), /^2 active tokens of the family revoked\.$/);
  for (const token of [staging, rotated]) assert.equal((await api(token)).status, 401);
  assert.equal((await api(deployToken)).status, 200);
  await assertRow(rotated, 'staging', 'revoked');

  const revokeAll = page.locator('table.users form.revoke-user button');
  assert.equal(await revokeAll.count(), 1);
  await submit(revokeAll);
  assert.match(await page.textContent('.notice'), /active tokens? of the user revoked/);
  for (const token of [deployToken, rotated]) assert.equal((await api(token)).status, 401);
  assert.equal(await page.locator('table.tokens .status-active').count(), 0);
});

test('admin: limits of a token (credits, allowlist, rate); the API and the user page follow them', async () => {
  await logout();
  await login(user);
  const metered = await createToken('metered', ['tokens:read'], 30);
  await logout();
  await login(admin);
  await page.goto(`${BASE}/admin/tokens`);
  // Every token's limits, and the link to set them, fit in the page.
  assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth));
  await page.fill('#search input[name=prefix]', metered.slice(0, 8));
  await submit(page.locator('#search button[type=submit]'));
  await submit(row(metered).locator('a.limits-link'));
  assert.equal(await page.textContent('h1'), 'Token limits');

  // A malformed network is a form error, and sets nothing.
  await page.fill('#addresses textarea', '127.0.0.0/8 10.0.0.300');
  let response = await submit(page.locator('#addresses button[value=set]'));
  assert.equal(response.status(), 422);
  assert.match(await page.textContent('#addresses .error'), /Entry 2 is not an IP address/);
  assert.equal((await page.textContent('#current-limits')).trim(), 'none');

  await page.fill('#addresses textarea', '127.0.0.0/8, ::1');
  await submit(page.locator('#addresses button[value=set]'));
  assert.match(await page.textContent('.notice'), /Allowlist set: 2 entries/);
  await page.fill('#credits input[name=remaining]', '2');
  await page.fill('#credits input[name=refill]', '100');
  await page.selectOption('#credits select[name=refill_every]', '86400');
  await submit(page.locator('#credits button[value=set]'));
  assert.match(await page.textContent('.notice'), /Credits set: 2 left, refilled to 100 every day/);
  await page.fill('#rate input[name=max_requests]', '5');
  await page.selectOption('#rate select[name=per]', '60');
  await submit(page.locator('#rate button[value=set]')); // the server preloads the library
  assert.match(await page.textContent('.notice'), /Rate limit set: 5 requests per minute/);
  const limits = await page.textContent('#current-limits');
  for (const text of ['5 requests per minute', '2 credits left, refilled to 100 every day', 'from 127.0.0.0/8, ::1/128']) {
    assert.ok(limits.replace(/\s+/g, ' ').includes(text), limits);
  }
  await shot('token-limits');

  // Two credits: two requests, then 429 until the refill, with Retry-After.
  assert.equal((await api(metered)).status, 200);
  assert.equal((await api(metered)).status, 200);
  const refused = await fetch(`${BASE}/tokens`, { headers: { Authorization: `Bearer ${metered}` } });
  assert.equal(refused.status, 429);
  assert.ok(Number(refused.headers.get('retry-after')) > 80000, refused.headers.get('retry-after'));
  assert.equal((await refused.json()).detail, 'this token has no credits left');

  await logout();
  await login(user);
  const listed = (await row(metered).locator('td.limits').textContent()).replace(/\s+/g, ' ');
  assert.match(listed, /5 requests per minute/);
  assert.match(listed, /from 127\.0\.0\.0\/8, ::1\/128/);
  assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth));
  await shot('tokens-limits');
});

test('no token or hash ever appeared in a URL', () => {
  assert.ok(urls.length > 20);
  for (const url of urls) {
    for (const token of seen) {
      assert.ok(!url.includes(token) && !url.includes(sha256(token)), `token in ${url}`);
    }
  }
});
