// The demo page when things go wrong, in the engine scripts/test-page.sh runs it in: a key that
// exists (the page asks), a key the server refuses, the server dying mid-upload, a full server.
// Through the test proxy (harness/proxy.mjs), against the script's server or one of the test's own.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import {
  KiB, LONG, MiB, RUN, TMP, assertSentence, card, makeFile, named, objectBytes, openPage, setSettings,
  sha256, startServer, waitPartsDone, waitPhase,
} from './helpers.mjs';

const BASE = process.env.PARTUP_BASE_URL;

test(named('uploading to a key that exists asks first, in the page; keep and replace both work'), LONG, async () => {
  const first = makeFile(`first-${RUN}.bin`, 700 * KiB);
  const second = makeFile(`second-${RUN}.bin`, 900 * KiB);
  const key = `exists-${RUN}/same.bin`;
  const { page, close } = await openPage();
  try {
    await setSettings(page, { partSize: 256 * KiB, key });
    await page.locator('#file-input').setInputFiles(first.path);
    await waitPhase(card(page, key), 'done');
    assert.equal(await page.locator('.upload .ask', { visible: true }).count(), 0, 'no question for a new key');

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
    assert.equal(sha256((await objectBytes(BASE, key)).body), first.sha256, 'declining left the old object');

    // Third time: replace it.
    await page.locator('#file-input').setInputFiles(second.path);
    upload = card(page, key);
    await upload.locator('.ask').waitFor({ state: 'visible' });
    await page.screenshot('confirm-replace.png', { show: upload });
    await upload.locator('.ask button.replace').click();
    await waitPhase(upload, 'done');
    assert.match(await upload.locator('.note').innerText(), /Replaced the earlier/);
    assert.equal(sha256((await objectBytes(BASE, key)).body), second.sha256, 'replacing stored the new bytes');
    assert.deepEqual(await page.problems(), []);
  } finally {
    await close();
    fs.rmSync(first.path, { force: true });
    fs.rmSync(second.path, { force: true });
  }
});

test(named('a refused resource key shows the server\'s reason as a sentence'), LONG, async () => {
  const file = makeFile(`badkey-${RUN}.bin`, 300 * KiB);
  const { page, close } = await openPage();
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
    assert.deepEqual(await page.problems(), []);
  } finally {
    await close();
    fs.rmSync(file.path, { force: true });
  }
});

test(named('the server dying mid-upload gives a readable error; after a restart "Try again" resumes'), LONG, async () => {
  const file = makeFile(`outage-${RUN}.bin`, 8 * MiB);
  const data = fs.mkdtempSync(path.join(TMP, 'outage-data-'));
  let server = await startServer(0, data);
  const { page, proxy, close } = await openPage({ target: server.base });
  try {
    await setSettings(page, { partSize: 256 * KiB, concurrency: 2, retries: 1 });
    proxy.partDelay = 200;
    await page.locator('#file-input').setInputFiles(file.path);
    const upload = card(page, file.name);
    const doneBefore = await waitPartsDone(upload, 6);
    server.child.kill('SIGKILL');

    await waitPhase(upload, 'failed', 120_000);
    const text = await upload.locator('.error-text').innerText();
    assertSentence(text);
    assert.match(text, /could not be reached/);
    assert.match(await upload.locator('.error-detail').innerText(), /NetworkError/);
    await page.screenshot('error.png', { show: upload });

    server = await startServer(server.port, data);
    await upload.locator('button.retry').click();
    await waitPhase(upload, 'done');
    const skipped = Number(await upload.getAttribute('data-skipped-parts'));
    assert.ok(skipped >= doneBefore, `skipped ${skipped} parts; ${doneBefore} were stored before the outage`);
    assert.equal(sha256((await objectBytes(server.base, file.name)).body), file.sha256);
    assert.deepEqual(await page.problems(), []);
  } finally {
    await close();
    server.child.kill('SIGKILL');
    fs.rmSync(file.path, { force: true });
  }
});

test(named('a full server (507) says the server is out of space at once; once space is freed "Try again" finishes'), LONG, async () => {
  const file = makeFile(`full-${RUN}.bin`, 5 * 256 * KiB);
  const { page, proxy, close } = await openPage();
  let full = false;
  let refused = 0;
  proxy.answer = (request, part) => {
    if (!part) return null; // not a part request
    if (!full && part === 3) full = true; // the disk fills up during the third part
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
  };
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
    assert.equal(proxy.parts, 3, 'no part request after the 507');
    await page.screenshot('server-full.png', { show: upload });

    full = false; // space freed
    await upload.locator('button.retry').click();
    await waitPhase(upload, 'done');
    assert.equal(Number(await upload.getAttribute('data-skipped-parts')), 2, 'the two stored parts are kept');
    assert.equal(proxy.parts, 3 + 3);
    assert.equal(sha256((await objectBytes(proxy.base, file.name)).body), file.sha256);
    assert.deepEqual(await page.problems(), []);
  } finally {
    await close();
    fs.rmSync(file.path, { force: true });
  }
});
