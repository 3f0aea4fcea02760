// What the page suites share: files to upload, opening the demo page (behind the test proxy),
// settings, waiting on an upload card, and a server of a test's own.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ENGINE, openBrowser } from './browser.mjs';
import { startTestProxy } from './harness/proxy.mjs';

export const TMP = process.env.PARTUP_TMP || fs.mkdtempSync(path.join(os.tmpdir(), 'partup-page-'));
export const RUN = `${ENGINE}-${Date.now().toString(36)}`; // unique keys: one server serves every engine's run
export const KiB = 1024;
export const MiB = 1024 * KiB;
export const LONG = { timeout: 240_000 }; // a slow 2-core machine builds, hashes and uploads at once
export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
export { ENGINE };

/** A test's name, with the engine it runs in first: `[firefox] a file dropped on the page uploads`. */
export const named = (sentence) => `[${ENGINE}] ${sentence}`;

/** Writes `size` random bytes to TMP/name; returns its path and SHA-256. */
export function makeFile(name, size) {
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

export const sha256 = (buffer) => crypto.createHash('sha256').update(buffer).digest('hex');
export const objectUrl = (base, key) => `${base}/v1/objects/${key.split('/').map(encodeURIComponent).join('/')}`;

/** The stored object's bytes, read by Node from `base` (the server, or a proxy in front of it). */
export async function objectBytes(base, key) {
  const response = await fetch(objectUrl(base, key));
  return { status: response.status, body: Buffer.from(await response.arrayBuffer()) };
}

/**
 * A fresh browser session on the demo page, opened through a test proxy in front of `target`
 * (harness/proxy.mjs: delays, dropped connections, request counts, the page's error recorder).
 * `engine` and `webdriverUrl`: another engine's driver than the run's (harness/other-engine.mjs).
 * `close()` always ends the session and the proxy.
 */
export async function openPage({
  target = process.env.PARTUP_BASE_URL, width = 1100, height = 900, query = '', engine, webdriverUrl,
} = {}) {
  if (!target) throw new Error('PARTUP_BASE_URL is not set: run scripts/test-page.sh');
  const proxy = await startTestProxy(target);
  let page;
  try {
    page = await openBrowser({ engine, webdriverUrl });
    await page.setViewport(width, height);
    await page.goto(`${proxy.base}/${query}`);
    await page.waitForSelector('body[data-ready="true"]');
  } catch (error) {
    await page?.close().catch(() => {});
    proxy.close();
    throw error;
  }
  const close = async () => {
    try {
      await page.close();
    } finally {
      proxy.close();
    }
  };
  return { page, proxy, close };
}

export async function setSettings(page, { partSize, concurrency, retries, key }) {
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

export const card = (page, key) => page.locator(`#uploads .upload[data-key="${key}"]`).last();

/** Waits until the card shows `phase`; fails at once, with the page's message, on an unexpected failure. */
export async function waitPhase(locator, phase, timeout = 180_000) {
  const deadline = Date.now() + timeout;
  let seen = '';
  while (Date.now() < deadline) {
    seen = (await locator.getAttribute('data-phase', { timeout: 1000 }).catch(() => null)) || '';
    if (seen === phase) return;
    if (seen === 'failed' && phase !== 'failed') {
      const text = await locator.locator('.error').innerText();
      assert.fail(`the upload failed instead of reaching "${phase}": ${text}`);
    }
    await sleep(100);
  }
  assert.fail(`timed out waiting for phase "${phase}" (last seen "${seen}")`);
}

export async function waitPartsDone(locator, atLeast, timeout = 120_000) {
  const deadline = Date.now() + timeout;
  while (Date.now() < deadline) {
    const done = Number(await locator.getAttribute('data-parts-done', { timeout: 1000 }).catch(() => 0));
    if (done >= atLeast) return done;
    const phase = await locator.getAttribute('data-phase');
    if (phase === 'done' || phase === 'failed') assert.fail(`reached "${phase}" before ${atLeast} parts were done`);
    await sleep(50);
  }
  assert.fail(`timed out waiting for ${atLeast} parts`);
}

/** A readable message: a sentence, not "[object Object]" or a bare code. */
export function assertSentence(text) {
  assert.ok(!/\[object \w+\]/.test(text), `not a sentence: ${text}`);
  assert.ok(!/undefined|null/.test(text), `leaks a missing value: ${text}`);
  assert.match(text, /^[A-Z“"][^]{20,}[.!?]$/, `not a sentence: ${text}`);
}

/**
 * A server of this test's own (so killing it leaves the shared one alone). `port` 0 lets the system
 * pick a free port, read back from the line the server prints; a restart passes the port it had, so
 * the proxy in front of it (whose origin holds the page's resume entries) finds it again.
 */
export async function startServer(port, data) {
  const child = spawn(process.env.PARTUP_SERVER_BIN, ['--listen', `127.0.0.1:${port}`, '--data', data,
    '--www', process.env.PARTUP_WWW, '--min-part-size', '65536'], { stdio: ['ignore', 'pipe', 'ignore'] });
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
