// The demo page with upload tokens, as scripts/demo.sh --auth runs it: a partup-server with
// --auth-secret-file and the example token endpoint (scripts/token-endpoint.py), both started by
// scripts/test-page.sh (PARTUP_AUTH_BASE_URL, PARTUP_TOKEN_URL). The page, opened with
// ?tokenUrl=, uploads with tokens from it and links the object with ?token=.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { launchChromium } from './browser.mjs';

const BASE = process.env.PARTUP_AUTH_BASE_URL;
const TOKENS = process.env.PARTUP_TOKEN_URL;
if (!BASE || !TOKENS) throw new Error('PARTUP_AUTH_BASE_URL or PARTUP_TOKEN_URL is not set: run scripts/test-page.sh');
const TMP = process.env.PARTUP_TMP || fs.mkdtempSync(path.join(os.tmpdir(), 'partup-page-'));
const RUN = Date.now().toString(36);
const sha256 = (buffer) => crypto.createHash('sha256').update(buffer).digest('hex');

let browser;
before(async () => {
  browser = await launchChromium();
});
after(async () => {
  await browser?.close();
});

test('with ?tokenUrl= the page uploads with tokens and its download link reads with one', { timeout: 240_000 }, async () => {
  const name = `token-${RUN}.bin`;
  const bytes = crypto.randomBytes(3 * 1024 * 1024 + 77);
  const file = path.join(TMP, name);
  fs.writeFileSync(file, bytes);
  const context = await browser.newContext({ acceptDownloads: true });
  try {
    const anonymous = await fetch(`${BASE}/v1/multipart/parallel/uploadInit`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ resourceKey: name }),
    });
    assert.equal(anonymous.status, 401, 'the server wants tokens');
    const issuedBefore = Number(await (await fetch(`${TOKENS}/count`)).text());
    const page = await context.newPage();
    page.setDefaultTimeout(180_000);
    const problems = [];
    page.on('pageerror', (error) => problems.push(String(error)));
    await page.goto(`${BASE}/?tokenUrl=${encodeURIComponent(TOKENS)}`);
    await page.waitForSelector('body[data-ready="true"]');
    await page.locator('#file-input').setInputFiles(file);
    const row = page.locator(`#completed li[data-key="${name}"]`);
    await row.waitFor();
    assert.ok(Number(await (await fetch(`${TOKENS}/count`)).text()) > issuedBefore, 'tokens came from the endpoint');
    const link = row.locator('a.download');
    assert.match(await link.getAttribute('href'), /\?token=/);
    const [download] = await Promise.all([page.waitForEvent('download'), link.click()]);
    assert.equal(sha256(fs.readFileSync(await download.path())), sha256(bytes), 'the downloaded bytes differ');
    const plain = await fetch(`${BASE}/v1/objects/${name}`);
    assert.equal(plain.status, 401, 'a read without a token is refused');
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
    fs.rmSync(file, { force: true });
  }
});
