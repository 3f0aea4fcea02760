// The demo page in a real browser: Debian's Chromium driven by playwright-core, against the real
// partup-server started by scripts/test-page.sh (PARTUP_BASE_URL). Run that script, not this file.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { launchChromium } from './browser.mjs';

const BASE = process.env.PARTUP_BASE_URL;
if (!BASE) throw new Error('PARTUP_BASE_URL is not set: run scripts/test-page.sh');
const TMP = process.env.PARTUP_TMP || fs.mkdtempSync(path.join(os.tmpdir(), 'partup-page-'));
const ARTIFACTS = process.env.PARTUP_ARTIFACTS || path.resolve('artifacts');
const SERVER_BIN = process.env.PARTUP_SERVER_BIN;
const WWW = process.env.PARTUP_WWW;
const RUN = Date.now().toString(36); // keeps keys unique when the same server is reused
const KiB = 1024;
const MiB = 1024 * KiB;
const LONG = { timeout: 240_000 }; // a slow 2-core machine builds, hashes and uploads at once

fs.mkdirSync(ARTIFACTS, { recursive: true });

let browser;
before(async () => {
  browser = await launchChromium();
});
after(async () => {
  await browser?.close();
});

// ------------------------------------------------------------------ helpers

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Writes `size` random bytes to TMP/name; returns its path and SHA-256. */
function makeFile(name, size) {
  const file = path.join(TMP, name);
  const hash = crypto.createHash('sha256');
  const fd = fs.openSync(file, 'w');
  for (let written = 0; written < size; ) {
    const chunk = crypto.randomBytes(Math.min(MiB, size - written));
    hash.update(chunk);
    fs.writeSync(fd, chunk);
    written += chunk.length;
  }
  fs.closeSync(fd);
  return { path: file, name, size, sha256: hash.digest('hex') };
}

const sha256 = (buffer) => crypto.createHash('sha256').update(buffer).digest('hex');
const objectUrl = (base, key) => `${base}/v1/objects/${key.split('/').map(encodeURIComponent).join('/')}`;

/** A fresh browser context on the page, with the page's errors collected. */
async function openPage({ base = BASE, width = 1100, height = 900 } = {}) {
  const context = await browser.newContext({ viewport: { width, height }, acceptDownloads: true });
  const page = await context.newPage();
  page.setDefaultTimeout(60_000);
  const problems = [];
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error' && !/Failed to load resource|ERR_CONNECTION_REFUSED|net::/.test(message.text())) {
      problems.push(`console error: ${message.text()}`);
    }
  });
  const uploads = { count: 0 };
  page.on('request', (request) => {
    if (request.method() === 'POST' && new URL(request.url()).pathname.endsWith('/upload')) uploads.count += 1;
  });
  await page.goto(`${base}/`);
  await page.waitForSelector('body[data-ready="true"]', { timeout: 60_000 });
  return { context, page, problems, uploads };
}

/** Delays every part request by `ms`, so a person (or a test) can act mid-upload. */
async function throttleParts(page, ms) {
  await page.route('**/v1/multipart/parallel/upload', async (route) => {
    await sleep(ms);
    try {
      await route.continue();
    } catch {
      // the page went away (reload) or the request was aborted (pause) meanwhile
    }
  });
}

async function setSettings(page, { partSize, concurrency, retries, key }) {
  const set = async (selector, value) => {
    if (value === undefined) return;
    const field = page.locator(selector);
    if (selector === '#part-size') await field.selectOption(String(value));
    else await field.fill(String(value));
    await field.dispatchEvent('change');
  };
  await set('#part-size', partSize);
  await set('#concurrency', concurrency);
  await set('#retries', retries);
  await set('#resource-key', key);
}

const card = (page, key) => page.locator(`#uploads .upload[data-key="${key}"]`).last();

/** Waits until the card shows `phase`; fails at once, with the page's message, on an unexpected failure. */
async function waitPhase(locator, phase, timeout = 180_000) {
  const deadline = Date.now() + timeout;
  let seen = '';
  while (Date.now() < deadline) {
    seen = (await locator.getAttribute('data-phase').catch(() => null)) || '';
    if (seen === phase) return;
    if (seen === 'failed' && phase !== 'failed') {
      const text = await locator.locator('.error').innerText();
      assert.fail(`the upload failed instead of reaching "${phase}": ${text}`);
    }
    await sleep(100);
  }
  assert.fail(`timed out waiting for phase "${phase}" (last seen "${seen}")`);
}

async function waitPartsDone(locator, atLeast, timeout = 120_000) {
  const deadline = Date.now() + timeout;
  while (Date.now() < deadline) {
    const done = Number(await locator.getAttribute('data-parts-done').catch(() => 0));
    if (done >= atLeast) return done;
    const phase = await locator.getAttribute('data-phase');
    if (phase === 'done' || phase === 'failed') assert.fail(`reached "${phase}" before ${atLeast} parts were done`);
    await sleep(50);
  }
  assert.fail(`timed out waiting for ${atLeast} parts`);
}

async function shot(page, name, fullPage = true) {
  const file = path.join(ARTIFACTS, name);
  await page.screenshot({ path: file, fullPage });
  return file;
}

/** A readable message: a sentence, not "[object Object]" or a bare code. */
function assertSentence(text) {
  assert.ok(!/\[object \w+\]/.test(text), `not a sentence: ${text}`);
  assert.ok(!/undefined|null/.test(text), `leaks a missing value: ${text}`);
  assert.match(text, /^[A-Z“"][^]{20,}[.!?]$/, `not a sentence: ${text}`);
}

/**
 * A server of this test's own (so killing it leaves the shared one alone). `port` 0 lets the system
 * pick a free port, read back from the line the server prints; a restart passes the port it had, so
 * the page (whose origin holds the resume entries) finds it again.
 */
async function startServer(port, data) {
  const child = spawn(SERVER_BIN, ['--listen', `127.0.0.1:${port}`, '--data', data, '--www', WWW,
    '--min-part-size', '65536'], { stdio: ['ignore', 'pipe', 'ignore'] });
  const base = await new Promise((resolve, reject) => {
    let printed = '';
    child.stdout.on('data', (chunk) => {
      printed += chunk;
      const address = /listening on (http:\/\/[^/\s]+)\//.exec(printed);
      if (address) resolve(address[1]);
    });
    child.on('exit', (code) => reject(new Error(`the test server exited (${code}) before listening`)));
  });
  child.stdout.resume();
  for (let i = 0; i < 200; i++) {
    try {
      if ((await fetch(`${base}/healthz`)).ok) return { child, base, port: Number(new URL(base).port) };
    } catch {
      // not answering yet
    }
    await sleep(50);
  }
  child.kill('SIGKILL');
  throw new Error('the test server did not start');
}

/**
 * A tiny HTTP proxy in front of `target` that answers a request itself when `answer(request)`
 * returns `{ status, body }` (after reading the request's body, as a server would), and forwards
 * everything else. The page is opened at its address, so it is the page's server.
 */
async function startAnsweringProxy(target, answer) {
  const server = http.createServer((request, response) => {
    const reply = answer(request);
    if (reply) {
      request.resume();
      request.on('end', () => {
        response.writeHead(reply.status, { 'content-type': 'application/json' });
        response.end(JSON.stringify(reply.body));
      });
      return;
    }
    const options = { method: request.method, headers: request.headers };
    const upstream = http.request(new URL(request.url, target), options, (answered) => {
      response.writeHead(answered.statusCode, answered.headers);
      answered.pipe(response);
    });
    upstream.on('error', () => response.destroy());
    request.pipe(upstream);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const close = () => {
    server.closeAllConnections();
    server.close();
  };
  return { base: `http://127.0.0.1:${server.address().port}`, close };
}

// ------------------------------------------------------------------ tests

test('a 64 MiB file picked with the file input uploads, and its download link gives the same bytes', LONG, async () => {
  const file = makeFile(`big-${RUN}.bin`, 64 * MiB);
  const { context, page, problems } = await openPage();
  try {
    await page.locator('#file-input').setInputFiles(file.path);
    const upload = card(page, file.name); // the default key is the file's name
    await waitPhase(upload, 'done');
    assert.equal(await upload.getAttribute('data-parts-total'), '8'); // 8 MiB parts by default
    await assert.doesNotReject(upload.locator('.note').filter({ hasText: 'Verified' }).waitFor());
    const row = page.locator(`#completed li[data-key="${file.name}"]`);
    assert.equal(await row.locator('.size').innerText(), '64.0 MiB');
    assert.match(await row.locator('.etag').innerText(), /^[0-9a-f]{32}-8$/);
    await shot(page, 'done.png');

    const [download] = await Promise.all([page.waitForEvent('download'), row.locator('a.download').click()]);
    const saved = await download.path();
    assert.equal(download.suggestedFilename(), file.name);
    assert.equal(sha256(fs.readFileSync(saved)), file.sha256, 'the downloaded bytes differ from the file');
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
    fs.rmSync(file.path, { force: true });
  }
});

test('a file of many parts draws a capped grid (several parts per square) and cancel removes the upload', LONG, async () => {
  const file = makeFile(`many-${RUN}.bin`, 72 * MiB); // 288 parts of 256 KiB: more than the 240 squares
  const { context, page, problems } = await openPage();
  try {
    await setSettings(page, { partSize: 256 * KiB, concurrency: 4 });
    await throttleParts(page, 100);
    await page.locator('#file-input').setInputFiles(file.path);
    const upload = card(page, file.name);
    await waitPartsDone(upload, 4);
    assert.equal(await upload.getAttribute('data-parts-total'), '288');
    assert.equal(await upload.locator('.grid .cell').count(), 144);
    assert.match(await upload.locator('.parts-caption').innerText(), /1 square = 2 parts/);
    await shot(page, 'many-parts.png', false);

    await upload.locator('button.cancel').click();
    await waitPhase(upload, 'cancelled', 60_000);
    assert.match(await upload.locator('.note').innerText(), /Cancelled/);
    assert.ok(await upload.locator('.grid').isHidden());
    const response = await page.request.get(objectUrl(BASE, file.name));
    assert.equal(response.status(), 404, 'a cancelled upload leaves no object');
    await page.reload();
    await page.waitForSelector('body[data-ready="true"]');
    assert.ok(await page.locator('#unfinished').isHidden(), 'a cancelled upload is not offered for resuming');
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
    fs.rmSync(file.path, { force: true });
  }
});

test('a file dropped on the page uploads', LONG, async () => {
  const { context, page, problems } = await openPage();
  const name = `dropped-${RUN}.bin`;
  const size = 3 * MiB + 123;
  try {
    await setSettings(page, { partSize: 1 * MiB });
    const overlaySeen = await page.evaluate(({ name, size }) => {
      const bytes = new Uint8Array(size);
      for (let i = 0; i < size; i++) bytes[i] = (i * 7 + (i >> 10)) & 255;
      const data = new DataTransfer();
      data.items.add(new File([bytes], name, { type: 'application/octet-stream' }));
      const fire = (type, target) => target.dispatchEvent(
        new DragEvent(type, { dataTransfer: data, bubbles: true, cancelable: true }));
      const target = document.querySelector('footer'); // anywhere on the page, not only the drop zone
      fire('dragenter', target);
      fire('dragover', target);
      const shown = !document.getElementById('drop-overlay').hidden;
      fire('drop', target);
      return shown;
    }, { name, size });
    assert.ok(overlaySeen, 'dragging files over the page shows the drop overlay');
    assert.ok(await page.locator('#drop-overlay').isHidden(), 'the overlay goes away after the drop');

    const upload = card(page, name);
    await waitPhase(upload, 'done');
    assert.equal(await upload.getAttribute('data-parts-total'), '4');
    const expected = Buffer.alloc(size);
    for (let i = 0; i < size; i++) expected[i] = (i * 7 + (i >> 10)) & 255;
    const response = await page.request.get(objectUrl(BASE, name));
    assert.equal(response.status(), 200);
    assert.equal(sha256(await response.body()), sha256(expected));
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});

test('failing part requests are retried, shown as retrying, and the file still arrives intact', LONG, async () => {
  const file = makeFile(`flaky-${RUN}.bin`, 8 * MiB);
  const { context, page, problems, uploads } = await openPage();
  try {
    await setSettings(page, { partSize: 256 * KiB, concurrency: 3 });
    let seen = 0;
    let failed = 0;
    await page.route('**/v1/multipart/parallel/upload', async (route) => {
      seen += 1;
      await sleep(150);
      try {
        if (seen % 4 === 0) {
          failed += 1;
          await route.abort('connectionreset'); // every fourth part request: the connection drops
        } else {
          await route.continue();
        }
      } catch {
        // aborted meanwhile
      }
    });
    await page.locator('#file-input').setInputFiles(file.path);
    const upload = card(page, file.name);
    await upload.locator('.grid .cell.retrying').first().waitFor({ state: 'attached', timeout: 60_000 });
    await shot(page, 'retrying.png', false);
    await waitPhase(upload, 'done');
    assert.ok(failed >= 3, `only ${failed} requests were made to fail`);
    assert.match(await upload.locator('.retries').innerText(), /^\d+ retr(y|ies)$/);
    assert.equal(uploads.count, seen);
    const response = await page.request.get(objectUrl(BASE, file.name));
    assert.equal(sha256(await response.body()), file.sha256);
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
    fs.rmSync(file.path, { force: true });
  }
});

test('pause stops sending parts, resume finishes the upload', LONG, async () => {
  const file = makeFile(`paused-${RUN}.bin`, 16 * MiB);
  const { context, page, problems, uploads } = await openPage();
  try {
    await setSettings(page, { partSize: 256 * KiB, concurrency: 3 });
    await throttleParts(page, 250);
    await page.locator('#file-input').setInputFiles(file.path);
    const upload = card(page, file.name);
    await waitPartsDone(upload, 8);
    await shot(page, 'mid-upload.png');

    await upload.locator('button.pause').click();
    await waitPhase(upload, 'paused', 30_000);
    assert.ok(await upload.locator('button.resume').isVisible());
    assert.ok(await upload.locator('button.pause').isHidden());
    const requestsAtPause = uploads.count;
    const partsAtPause = Number(await upload.getAttribute('data-parts-done'));
    await sleep(2000);
    assert.equal(uploads.count, requestsAtPause, 'no part request starts while paused');
    assert.equal(Number(await upload.getAttribute('data-parts-done')), partsAtPause);
    assert.equal(await upload.locator('.badge').innerText(), 'Paused');

    await upload.locator('button.resume').click();
    await waitPhase(upload, 'done');
    const response = await page.request.get(objectUrl(BASE, file.name));
    assert.equal(sha256(await response.body()), file.sha256);
    // Parts finished before the pause were not sent again: at most the ones aborted in flight were.
    assert.ok(uploads.count <= 64 + 3, `sent ${uploads.count} part requests for 64 parts`);
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
    fs.rmSync(file.path, { force: true });
  }
});

test('after a reload, picking the same file again resumes and skips the parts already sent', LONG, async () => {
  const file = makeFile(`reloaded-${RUN}.bin`, 16 * MiB);
  const { context, page, problems, uploads } = await openPage();
  try {
    await setSettings(page, { partSize: 256 * KiB, concurrency: 2 });
    await throttleParts(page, 200);
    await page.locator('#file-input').setInputFiles(file.path);
    const doneBefore = await waitPartsDone(card(page, file.name), 20);
    const sentBefore = uploads.count;

    await page.reload();
    await page.waitForSelector('body[data-ready="true"]');
    const unfinished = page.locator('#unfinished');
    await unfinished.waitFor({ state: 'visible' });
    assert.match(await unfinished.innerText(), new RegExp(file.name.replace(/\./g, '\\.')));
    await shot(page, 'after-reload.png');

    uploads.count = 0;
    await page.locator('#file-input').setInputFiles(file.path);
    const upload = card(page, file.name);
    await waitPhase(upload, 'done');
    const skipped = Number(await upload.getAttribute('data-skipped-parts'));
    const note = await upload.locator('.note').innerText();
    assert.match(note, new RegExp(`Resumed: ${skipped} parts of 64 were already on the server`));
    assert.ok(skipped >= doneBefore, `skipped ${skipped}, but ${doneBefore} parts were done before the reload`);
    assert.ok(uploads.count <= 64 - doneBefore,
      `after the reload ${uploads.count} part requests were sent; ${doneBefore} of 64 parts were on the server`);
    assert.ok(uploads.count + skipped >= 64);
    assert.ok(await unfinished.isHidden(), 'the unfinished list is empty once the upload is done');
    console.log(`# reload: ${sentBefore} part requests before, ${uploads.count} after, ${skipped} parts skipped`);

    const response = await page.request.get(objectUrl(BASE, file.name));
    assert.equal(sha256(await response.body()), file.sha256);
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
    fs.rmSync(file.path, { force: true });
  }
});

test('uploading to a key that exists asks first, in the page; keep and replace both work', LONG, async () => {
  const first = makeFile(`first-${RUN}.bin`, 700 * KiB);
  const second = makeFile(`second-${RUN}.bin`, 900 * KiB);
  const key = `exists-${RUN}/same.bin`;
  const { context, page, problems } = await openPage();
  try {
    await setSettings(page, { partSize: 256 * KiB, key });
    await page.locator('#file-input').setInputFiles(first.path);
    await waitPhase(card(page, key), 'done');
    assert.equal(await page.locator('.upload .ask:visible').count(), 0, 'no question for a new key');

    // Second time: the question appears; keep the existing object.
    await page.locator('#file-input').setInputFiles(second.path);
    let upload = card(page, key);
    const ask = upload.locator('.ask');
    await ask.waitFor({ state: 'visible' });
    assert.match(await ask.innerText(), /already exists on the server/);
    assert.equal(await upload.getAttribute('data-phase'), 'asking');
    await ask.locator('button.keep').click();
    await waitPhase(upload, 'declined', 30_000);
    assert.match(await upload.locator('.note').innerText(), /Kept the existing/);
    let response = await page.request.get(objectUrl(BASE, key));
    assert.equal(sha256(await response.body()), first.sha256, 'declining left the old object');

    // Third time: replace it.
    await page.locator('#file-input').setInputFiles(second.path);
    upload = card(page, key);
    await upload.locator('.ask').waitFor({ state: 'visible' });
    await shot(page, 'confirm-replace.png');
    await upload.locator('.ask button.replace').click();
    await waitPhase(upload, 'done');
    assert.match(await upload.locator('.note').innerText(), /Replaced the earlier/);
    response = await page.request.get(objectUrl(BASE, key));
    assert.equal(sha256(await response.body()), second.sha256, 'replacing stored the new bytes');
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
    fs.rmSync(first.path, { force: true });
    fs.rmSync(second.path, { force: true });
  }
});

test('a refused resource key shows the server\'s reason as a sentence', LONG, async () => {
  const file = makeFile(`badkey-${RUN}.bin`, 300 * KiB);
  const { context, page, problems } = await openPage();
  try {
    await setSettings(page, { key: `bad-${RUN}//name.bin` });
    await page.locator('#file-input').setInputFiles(file.path);
    const upload = card(page, `bad-${RUN}//name.bin`);
    await waitPhase(upload, 'failed', 60_000);
    const text = await upload.locator('.error-text').innerText();
    assertSentence(text);
    assert.match(text, /empty segment/);
    assert.match(await upload.locator('.error-detail').innerText(), /InvalidObjectName · HTTP 400/);
    // The detail line comes from PartupError's fields: the server's request id is there too.
    assert.match(await upload.locator('.error-detail').innerText(), /InvalidObjectName · HTTP 400 · request \S+/);
    assert.ok(await upload.locator('button.retry').isVisible());
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
    fs.rmSync(file.path, { force: true });
  }
});

test('the server dying mid-upload gives a readable error; after a restart "Try again" resumes', LONG, async () => {
  const file = makeFile(`outage-${RUN}.bin`, 8 * MiB);
  const data = fs.mkdtempSync(path.join(TMP, 'outage-data-'));
  let server = await startServer(0, data);
  const { context, page, problems } = await openPage({ base: server.base });
  try {
    await setSettings(page, { partSize: 256 * KiB, concurrency: 2, retries: 1 });
    await throttleParts(page, 200);
    await page.locator('#file-input').setInputFiles(file.path);
    const upload = card(page, file.name);
    const doneBefore = await waitPartsDone(upload, 6);
    server.child.kill('SIGKILL');

    await waitPhase(upload, 'failed', 120_000);
    const text = await upload.locator('.error-text').innerText();
    assertSentence(text);
    assert.match(text, /could not be reached/);
    assert.match(await upload.locator('.error-detail').innerText(), /NetworkError/);
    await shot(page, 'error.png');

    server = await startServer(server.port, data);
    await upload.locator('button.retry').click();
    await waitPhase(upload, 'done');
    const skipped = Number(await upload.getAttribute('data-skipped-parts'));
    assert.ok(skipped >= doneBefore, `skipped ${skipped} parts; ${doneBefore} were stored before the outage`);
    const response = await page.request.get(objectUrl(server.base, file.name));
    assert.equal(sha256(await response.body()), file.sha256);
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
    server.child.kill('SIGKILL');
    fs.rmSync(file.path, { force: true });
  }
});

test('a full server (507) says the server is out of space at once; once space is freed "Try again" finishes', LONG, async () => {
  const file = makeFile(`full-${RUN}.bin`, 5 * 256 * KiB);
  let full = false;
  let partRequests = 0;
  let refused = 0;
  const isPart = (request) => request.method === 'POST' && request.url.endsWith('/v1/multipart/parallel/upload');
  const proxy = await startAnsweringProxy(BASE, (request) => {
    if (!isPart(request)) return null;
    partRequests += 1;
    if (!full && partRequests === 3) full = true; // the disk fills up during the third part
    if (!full) return null;
    refused += 1;
    return {
      status: 507,
      body: {
        code: 'InsufficientStorage',
        message: "the server's disk is full; nothing acknowledged was lost, try again once space is freed",
        requestId: 'page-test-507',
      },
    };
  });
  const { context, page, problems } = await openPage({ base: proxy.base });
  try {
    await setSettings(page, { partSize: 256 * KiB, concurrency: 1 });
    await page.locator('#file-input').setInputFiles(file.path);
    const upload = card(page, file.name);
    await waitPhase(upload, 'failed', 60_000);
    const text = await upload.locator('.error-text').innerText();
    assertSentence(text);
    assert.match(text, /^The server is out of space/);
    const detail = await upload.locator('.error-detail').innerText();
    assert.match(detail, /InsufficientStorage · HTTP 507 · request page-test-507/);
    assert.match(detail, /disk is full/);
    assert.equal(refused, 1, 'a 507 is not retried');
    assert.equal(partRequests, 3, 'no part request after the 507');
    await shot(page, 'server-full.png');

    full = false; // space freed
    await upload.locator('button.retry').click();
    await waitPhase(upload, 'done');
    assert.equal(Number(await upload.getAttribute('data-skipped-parts')), 2, 'the two stored parts are kept');
    assert.equal(partRequests, 3 + 3);
    const response = await page.request.get(objectUrl(proxy.base, file.name));
    assert.equal(sha256(await response.body()), file.sha256);
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
    proxy.close();
    fs.rmSync(file.path, { force: true });
  }
});

test('several files queue (two at a time) and the page works in a 380 px wide window', LONG, async () => {
  const files = [1, 2, 3, 4].map((n) => makeFile(`queued-${n}-${RUN}.bin`, 2 * MiB + n * 1000));
  const { context, page, problems } = await openPage({ width: 380, height: 800 });
  try {
    await setSettings(page, { partSize: 256 * KiB, concurrency: 2, key: `queue-${RUN}/` });
    await throttleParts(page, 150);
    await page.locator('#file-input').setInputFiles(files.map((f) => f.path));
    const cards = page.locator('#uploads .upload');
    assert.equal(await cards.count(), 4);
    await waitPartsDone(card(page, `queue-${RUN}/${files[0].name}`), 3);
    const phases = await cards.evaluateAll((all) => all.map((c) => c.dataset.phase));
    const active = phases.filter((p) => !['queued', 'done'].includes(p)).length;
    assert.ok(active <= 2, `at most two files upload at once, saw ${phases.join(', ')}`);
    assert.ok(phases.includes('queued'), `the others wait: ${phases.join(', ')}`);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `the page scrolls sideways by ${overflow}px at 380px`);
    await shot(page, 'narrow-mid-upload.png');

    for (const f of files) await waitPhase(card(page, `queue-${RUN}/${f.name}`), 'done');
    assert.equal(await page.locator('#completed li').count(), 4);
    await shot(page, 'narrow-done.png');
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
    for (const f of files) fs.rmSync(f.path, { force: true });
  }
});
