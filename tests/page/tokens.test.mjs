// The demo page with upload tokens, as scripts/demo.sh --auth runs it, in the engine
// scripts/test-page.sh runs it in: a partup-server with --auth-secret-file and the example token
// endpoint (scripts/token-endpoint.py), both started by the script (PARTUP_AUTH_BASE_URL,
// PARTUP_TOKEN_URL). The page, opened (through the test proxy) with ?tokenUrl=, uploads with tokens
// from it and links the object with ?token=.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { RUN, TMP, named, openPage, sha256 } from './helpers.mjs';

const BASE = process.env.PARTUP_AUTH_BASE_URL;
const TOKENS = process.env.PARTUP_TOKEN_URL;
if (!BASE || !TOKENS) throw new Error('PARTUP_AUTH_BASE_URL or PARTUP_TOKEN_URL is not set: run scripts/test-page.sh');

test(named('with ?tokenUrl= the page uploads with tokens and its download link reads with one'), { timeout: 240_000 }, async () => {
  const name = `token-${RUN}.bin`;
  const bytes = crypto.randomBytes(3 * 1024 * 1024 + 77);
  const file = path.join(TMP, name);
  fs.writeFileSync(file, bytes);
  const anonymous = await fetch(`${BASE}/v1/multipart/parallel/uploadInit`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ resourceKey: name }),
  });
  assert.equal(anonymous.status, 401, 'the server wants tokens');
  const issuedBefore = Number(await (await fetch(`${TOKENS}/count`)).text());
  const { page, close } = await openPage({ target: BASE, query: `?tokenUrl=${encodeURIComponent(TOKENS)}` });
  try {
    await page.locator('#file-input').setInputFiles(file);
    const row = page.locator(`#completed li[data-key="${name}"]`);
    await row.waitFor({ timeout: 180_000 });
    assert.ok(Number(await (await fetch(`${TOKENS}/count`)).text()) > issuedBefore, 'tokens came from the endpoint');
    const link = row.locator('a.download');
    assert.match(await link.getAttribute('href'), /\?token=/);
    await link.click();
    assert.equal(sha256(await page.downloads.take(name)), sha256(bytes), 'the downloaded bytes differ');
    const plain = await fetch(`${BASE}/v1/objects/${name}`);
    assert.equal(plain.status, 401, 'a read without a token is refused');
    assert.deepEqual(await page.problems(), []);
  } finally {
    await close();
    fs.rmSync(file, { force: true });
  }
});
