// Unfinished uploads listed by the server (issue 16): an upload stopped midway in one browser
// session is listed under "Unfinished uploads on the server" in a fresh session (empty storage),
// in this run's engine and in another one, and picking the same file there sends only the missing
// parts (counted by the test proxy); a different file of the same name and size is never taken for
// it; "Discard" (clicked twice) aborts a listed upload on the server, and a refusal leaves it
// listed; a listing that fails is a quiet note, and the page still resumes from its own memory;
// with upload tokens the list holds the token's own uploads and none of another `sub`'s.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { OTHER_ENGINE, startDriver } from './harness/other-engine.mjs';
import {
  ENGINE, KiB, LONG, RUN, TMP, card, makeFile, named, objectBytes, openPage, setSettings, sha256,
  waitPartsDone, waitPhase,
} from './helpers.mjs';

const BASE = process.env.PARTUP_BASE_URL;
const PART = 256 * KiB;
const PARTS = 10;
// Ten parts, the last one shorter: slow enough behind the proxy's delay to stop midway.
const SIZE = PARTS * PART - 1000;
const escape = (text) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Every upload in progress under `prefix`, as listUploads answers them (all pages). */
async function serverUploads(base, prefix, token) {
  const uploads = [];
  let marker;
  do {
    const response = await fetch(`${base}/v1/multipart/parallel/listUploads`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify({ prefix, ...(marker ? { marker } : {}) }),
    });
    const answer = await response.json();
    assert.equal(response.status, 200, `listUploads: ${JSON.stringify(answer)}`);
    uploads.push(...answer.uploads);
    marker = answer.isTruncated ? answer.nextMarker : null;
  } while (marker);
  return uploads;
}

async function api(base, call, body, token) {
  const response = await fetch(`${base}/v1/multipart/parallel/${call}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(body),
  });
  const answer = await response.json();
  assert.equal(response.status, 200, `${call}: ${JSON.stringify(answer)}`);
  return answer;
}

/**
 * Starts uploading `file` under `key` (256 KiB parts, the proxy delaying each) in a fresh session
 * of `engine`, pauses once `atLeast` parts are stored and closes the browser: the upload stays
 * unfinished on the server, and nothing of it is left in any browser. Answers the server's entry
 * for it.
 */
async function startAndLeave(file, key, { atLeast = 3, engine, webdriverUrl } = {}) {
  const { page, proxy, close } = await openPage({ engine, webdriverUrl });
  try {
    await setSettings(page, { partSize: PART, concurrency: 2, key });
    proxy.partDelay = 400;
    await page.locator('#file-input').setInputFiles(file.path);
    const upload = card(page, key);
    await waitPartsDone(upload, atLeast);
    // Part requests from now on are held at the proxy, so the pause comes before the upload could
    // finish however slow the browser is; the pause waits until those already forwarded were
    // answered, so the server holds exactly the parts the page knows of and none lands later.
    proxy.holdParts = true;
    await proxy.settled();
    await upload.locator('button.pause').click();
    await waitPhase(upload, 'paused', 30_000);
    assert.deepEqual(await page.problems(), []);
  } finally {
    await close();
  }
  const [left, ...more] = await serverUploads(BASE, key);
  assert.ok(left, `the server lists no upload of ${key}`);
  assert.equal(more.length, 0, `one upload of ${key}, not ${more.length + 1}`);
  assert.ok(left.partsStored >= atLeast && left.partsStored < PARTS,
    `${left.partsStored} of ${PARTS} parts stored, expected ${atLeast} at least and not all`);
  return left;
}

/** Waits until the page's server listing has settled in `state` (ready, failed). */
async function listingSettled(page, state = 'ready') {
  await page.locator(`#server-uploads[data-state="${state}"]`).waitFor({ state: 'attached' });
}

const serverRow = (page, key) => page.locator(`#server-uploads li[data-key="${key}"]`);

/**
 * In a fresh session of this run's engine: the upload `left` (of `file`, under `key`) is listed
 * with its numbers; picking the file resumes it from the server, sending only the parts it lacks;
 * the object is byte-exact and the listing no longer shows the upload.
 */
async function resumeInFreshSession(file, key, left) {
  const { page, proxy, close } = await openPage();
  try {
    await listingSettled(page);
    const row = serverRow(page, key);
    const text = await row.innerText();
    assert.match(text, new RegExp(escape(file.name)));
    const percent = Math.floor((100 * left.bytesStored) / SIZE);
    assert.match(text, new RegExp(`2\\.5 MiB · ${percent}% on the server \\(${left.partsStored} parts stored\\) · key ${escape(key)}`));
    assert.match(text, /started .+ · last active .+/);
    assert.ok(await row.locator('label[for="file-input"]').isVisible(), 'the row offers to choose the file again');
    await page.screenshot('server-unfinished.png', { show: page.locator('#server-uploads') });

    // The fresh session's key setting is empty (the file's name): the listed upload's key is used.
    await page.locator('#file-input').setInputFiles(file.path);
    const upload = card(page, key);
    await waitPhase(upload, 'done');
    assert.equal(await upload.getAttribute('data-resumed-from'), 'server');
    assert.equal(Number(await upload.getAttribute('data-skipped-parts')), left.partsStored);
    assert.equal(proxy.parts, PARTS - left.partsStored,
      `${proxy.parts} part requests sent; the server held ${left.partsStored} of ${PARTS} parts`);
    assert.match(await upload.locator('.note').innerText(),
      new RegExp(`Resumed from the server: ${left.partsStored} of ${PARTS} parts already there`));
    await page.screenshot('server-resumed.png', { show: upload });
    assert.equal(sha256((await objectBytes(BASE, key)).body), file.sha256);

    // Listed again from scratch, the finished upload is gone.
    await page.reload();
    await page.waitForSelector('body[data-ready="true"]');
    await listingSettled(page);
    assert.equal(await serverRow(page, key).count(), 0, 'the finished upload is still listed');
    assert.deepEqual(await serverUploads(BASE, key), []);
    assert.deepEqual(await page.problems(), []);
  } finally {
    await close();
  }
}

test(named('an upload left midway is listed in a fresh session, and picking the file again sends only the missing parts'), LONG, async () => {
  const file = makeFile(`listed-${RUN}.bin`, SIZE);
  const key = `elsewhere/${RUN}/${file.name}`;
  try {
    const left = await startAndLeave(file, key);
    await resumeInFreshSession(file, key, left);
  } finally {
    fs.rmSync(file.path, { force: true });
  }
});

test(named(`an upload started in ${OTHER_ENGINE} is listed and resumed in ${ENGINE}`), LONG, async () => {
  const file = makeFile(`crossed-${RUN}.bin`, SIZE);
  const key = `elsewhere/${RUN}/from-${OTHER_ENGINE}/${file.name}`;
  const driver = await startDriver(OTHER_ENGINE);
  let left;
  try {
    left = await startAndLeave(file, key, { engine: OTHER_ENGINE, webdriverUrl: driver.url });
  } finally {
    await driver.stop();
  }
  try {
    await resumeInFreshSession(file, key, left);
  } finally {
    fs.rmSync(file.path, { force: true });
  }
});

test(named('a different file with the same name and size is not taken for the listed upload: all its parts are sent'), LONG, async () => {
  const first = makeFile(`same-name-${RUN}.bin`, SIZE);
  fs.mkdirSync(path.join(TMP, `other-${RUN}`), { recursive: true });
  const second = makeFile(path.join(`other-${RUN}`, first.name), SIZE);
  const key = `elsewhere/${RUN}/${first.name}`;
  let left;
  try {
    left = await startAndLeave(first, key, { atLeast: 2 });
    const { page, proxy, close } = await openPage();
    try {
      await listingSettled(page);
      await serverRow(page, key).waitFor();
      // A fresh upload is cut by this session's part size: the same as the first's, so that "all
      // its parts" are as many requests.
      await setSettings(page, { partSize: PART });
      await page.locator('#file-input').setInputFiles(second.path);
      const upload = card(page, key); // matched by name and size: the listed upload's key
      await waitPhase(upload, 'done');
      assert.equal(await upload.getAttribute('data-parts-total'), String(PARTS));
      assert.equal(await upload.getAttribute('data-refused-matches'), left.uploadId);
      assert.equal(await upload.getAttribute('data-resumed-from'), null, 'it did not resume');
      assert.equal(Number(await upload.getAttribute('data-skipped-parts')), 0);
      assert.equal(proxy.parts, PARTS, `${proxy.parts} part requests for a fresh upload of ${PARTS} parts`);
      assert.match(await upload.locator('.note').innerText(),
        /A server upload with the same name and size held different content; this file started fresh\./);
      await page.screenshot('server-refused.png', { show: upload });
      const stored = await objectBytes(BASE, key);
      assert.equal(sha256(stored.body), second.sha256, 'the object is the second file');
      assert.deepEqual(await page.problems(), []);
    } finally {
      await close();
    }
  } finally {
    // The first file's upload was left alone by the page; the server's list is shared by every test.
    if (left) await api(BASE, 'uploadAbort', { uploadId: left.uploadId }).catch(() => {});
    fs.rmSync(first.path, { force: true });
    fs.rmSync(path.join(TMP, `other-${RUN}`), { recursive: true, force: true });
  }
});

test(named('an upload discarded from the server list is aborted there, after a second click; a refusal leaves it listed and says why'), LONG, async () => {
  const file = makeFile(`discarded-${RUN}.bin`, SIZE);
  const key = `elsewhere/${RUN}/discarded/${file.name}`;
  try {
    const left = await startAndLeave(file, key, { atLeast: 2 });
    const { page, proxy, close } = await openPage();
    try {
      await listingSettled(page);
      const row = serverRow(page, key);
      const discard = row.locator('button.discard');
      await discard.click();
      assert.equal(await discard.innerText(), 'Discard for good?');
      assert.equal((await serverUploads(BASE, key)).length, 1, 'a first click discards nothing');

      // Refused: the row says why and stays; the upload keeps every part it had.
      proxy.answer = (request) => new URL(request.url, 'http://x').pathname.endsWith('/uploadAbort')
        ? { status: 403, body: { code: 'AccessDenied', message: 'this token may not abort it', requestId: 'test-proxy' } }
        : null;
      await discard.click();
      const why = row.locator('.discard-error');
      await why.waitFor();
      assert.equal(await why.innerText(), 'Not discarded: the upload token may not abort it (this token may not abort it).');
      assert.equal(await discard.innerText(), 'Discard');
      const [kept] = await serverUploads(BASE, key);
      assert.equal(kept?.partsStored, left.partsStored, 'the refused discard changed the upload');

      // Asked and confirmed again, the server answering: gone from the page and from the server.
      proxy.answer = null;
      await discard.click();
      await discard.click();
      await row.waitFor({ state: 'hidden' });
      assert.deepEqual(await serverUploads(BASE, key), []);
      const listed = await fetch(`${BASE}/v1/multipart/parallel/listParts`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ uploadId: left.uploadId }),
      });
      assert.equal(listed.status, 404);
      assert.equal((await listed.json()).code, 'NoSuchUpload');

      // The same file picked again is a new upload: every part is sent.
      await setSettings(page, { partSize: PART, concurrency: 2 });
      proxy.parts = 0;
      await page.locator('#file-input').setInputFiles(file.path);
      const upload = card(page, file.name);
      await waitPhase(upload, 'done');
      assert.equal(await upload.getAttribute('data-resumed-from'), null);
      assert.equal(proxy.parts, PARTS);
      assert.equal(sha256((await objectBytes(BASE, file.name)).body), file.sha256);
      assert.deepEqual(await page.problems(), []);
    } finally {
      await close();
    }
  } finally {
    fs.rmSync(file.path, { force: true });
  }
});

// An older server without listUploads (its 404 for a path it does not know), and one that refuses
// this caller the listing (403).
const REFUSED_LISTINGS = [
  { status: 404, code: 'NotFound', message: 'no such path: listUploads', says: /No such path: listUploads\.$/ },
  { status: 403, code: 'AccessDenied', message: 'this token may not list uploads', says: /the upload token may not list them \(this token may not list uploads\)\.$/ },
];

for (const refused of REFUSED_LISTINGS) {
  test(named(`when listUploads answers ${refused.status} ${refused.code} the page says so quietly, and resumes from its own memory after a reload`), LONG, async () => {
    const file = makeFile(`unlisted-${refused.status}-${RUN}.bin`, SIZE);
    const { page, proxy, close } = await openPage();
    try {
      proxy.answer = (request) => new URL(request.url, 'http://x').pathname.endsWith('/listUploads')
        ? { status: refused.status, body: { code: refused.code, message: refused.message, requestId: 'test-proxy' } }
        : null;
      await page.reload();
      await page.waitForSelector('body[data-ready="true"]');
      await listingSettled(page, 'failed');
      const note = page.locator('#server-uploads-note');
      const text = await note.innerText();
      assert.match(text, /^The server's list of unfinished uploads could not be loaded: /);
      assert.match(text, refused.says);
      assert.match(await note.getAttribute('title'), new RegExp(`code ${refused.code} · HTTP ${refused.status}`));

      // Uploads go on: the client's own look-up of the server's uploads is refused too, so it
      // starts a new one.
      await setSettings(page, { partSize: PART, concurrency: 2 });
      proxy.partDelay = 400;
      await page.locator('#file-input').setInputFiles(file.path);
      const doneBefore = await waitPartsDone(card(page, file.name), 3);
      await page.reload();
      await page.waitForSelector('body[data-ready="true"]');
      await listingSettled(page, 'failed');
      const remembered = page.locator(`#unfinished li[data-key="${file.name}"]`);
      assert.match(await remembered.innerText(), new RegExp(escape(file.name)));

      proxy.partDelay = 0;
      proxy.parts = 0;
      await page.locator('#file-input').setInputFiles(file.path);
      const upload = card(page, file.name);
      await waitPhase(upload, 'done');
      assert.equal(await upload.getAttribute('data-resumed-from'), 'local');
      assert.ok(proxy.parts <= PARTS - doneBefore, `${proxy.parts} part requests; ${doneBefore} parts were stored before`);
      assert.equal(sha256((await objectBytes(BASE, file.name)).body), file.sha256);
      assert.deepEqual(await page.problems(), [], 'a failed listing is no error of the page');
    } finally {
      await close();
      fs.rmSync(file.path, { force: true });
    }
  });
}

test(named('with upload tokens the list holds the uploads of the token\'s sub, and none of another sub\'s'), LONG, async () => {
  const authBase = process.env.PARTUP_AUTH_BASE_URL;
  const tokens = process.env.PARTUP_TOKEN_URL;
  const secret = process.env.PARTUP_PAGE_AUTH_SECRET;
  assert.ok(authBase && tokens && secret, 'PARTUP_AUTH_BASE_URL, PARTUP_TOKEN_URL or PARTUP_PAGE_AUTH_SECRET is not set: run scripts/test-page.sh');
  const prefix = `subs/${RUN}/`;
  // The page's sub (the token endpoint's) and another one, whose token the test signs itself.
  const mine = (await (await fetch(`${tokens}/token`)).text()).trim();
  const theirs = execFileSync(process.env.PARTUP_SERVER_BIN, ['token', '--auth-secret-file', secret,
    '--sub', 'someone-else', '--write', '', '--read', '', '--ttl', '5m'], { encoding: 'utf8' }).trim();
  // As the wasm client stores them (numbers as decimal strings), so the page knows the files.
  const metadata = (name) => ({ 'partup.name': name, 'partup.size': '1000', 'partup.lastModified': '1764000000000', 'partup.partSize': '1000' });
  const started = [];
  try {
    for (const [name, token] of [['mine.bin', mine], ['theirs.bin', theirs]]) {
      const { uploadId } = await api(authBase, 'uploadInit', { resourceKey: prefix + name, size: 1000, metadata: metadata(name) }, token);
      started.push({ uploadId, token });
    }
    const { page, close } = await openPage({ target: authBase, query: `?tokenUrl=${encodeURIComponent(tokens)}` });
    try {
      await listingSettled(page);
      const row = serverRow(page, `${prefix}mine.bin`);
      assert.match(await row.innerText(), /^mine\.bin 1000 B · 0% on the server \(0 parts stored\) · key subs\//);
      assert.equal(await serverRow(page, `${prefix}theirs.bin`).count(), 0, 'another sub\'s upload is listed');
      assert.deepEqual(await page.problems(), []);
    } finally {
      await close();
    }
  } finally {
    for (const { uploadId, token } of started) await api(authBase, 'uploadAbort', { uploadId }, token).catch(() => {});
  }
});
