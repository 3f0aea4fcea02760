// The demo page in a real browser, in the engine scripts/test-page.sh runs it in (PARTUP_BROWSER:
// chromium, firefox or webkit, each over WebDriver), against the real partup-server the script
// started (PARTUP_BASE_URL), through a test proxy (harness/proxy.mjs). Run that script, not this file.
// Uploads that work: picked, dropped, many parts, retried, paused, resumed after a reload, instant.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import {
  KiB, LONG, MiB, RUN, card, makeFile, named, objectBytes, openPage, setSettings, sha256, sleep,
  waitPartsDone, waitPhase,
} from './helpers.mjs';

const BASE = process.env.PARTUP_BASE_URL;

test(named('a 64 MiB file picked with the file input uploads, and its download link gives the same bytes'), LONG, async () => {
  const file = makeFile(`big-${RUN}.bin`, 64 * MiB);
  const { page, close } = await openPage();
  try {
    await page.locator('#file-input').setInputFiles(file.path);
    const upload = card(page, file.name); // the default key is the file's name
    await waitPhase(upload, 'done');
    assert.equal(await upload.getAttribute('data-parts-total'), '8'); // 8 MiB parts by default
    await assert.doesNotReject(upload.locator('.note').filter({ hasText: 'Verified' }).waitFor());
    const row = page.locator(`#completed li[data-key="${file.name}"]`);
    assert.equal(await row.locator('.size').innerText(), '64.0 MiB');
    assert.match(await row.locator('.etag').innerText(), /^[0-9a-f]{32}-8$/);
    await page.screenshot('done.png', { show: upload });

    // The browser saves it under the link's name (the file's), with the file's bytes.
    await row.locator('a.download').click();
    const saved = await page.downloads.take(file.name);
    assert.equal(sha256(saved), file.sha256, 'the downloaded bytes differ from the file');
    assert.deepEqual(await page.problems(), []);
  } finally {
    await close();
    fs.rmSync(file.path, { force: true });
  }
});

test(named('a file of many parts draws a capped grid (several parts per square) and cancel removes the upload'), LONG, async () => {
  const file = makeFile(`many-${RUN}.bin`, 72 * MiB); // 288 parts of 256 KiB: more than the 240 squares
  const { page, proxy, close } = await openPage();
  try {
    await setSettings(page, { partSize: 256 * KiB, concurrency: 4 });
    proxy.partDelay = 100;
    await page.locator('#file-input').setInputFiles(file.path);
    const upload = card(page, file.name);
    await waitPartsDone(upload, 4);
    assert.equal(await upload.getAttribute('data-parts-total'), '288');
    assert.equal(await upload.locator('.grid .cell').count(), 144);
    assert.match(await upload.locator('.parts-caption').innerText(), /1 square = 2 parts/);
    await page.screenshot('many-parts.png', { show: upload });

    await upload.locator('button.cancel').click();
    await waitPhase(upload, 'cancelled', 60_000);
    assert.match(await upload.locator('.note').innerText(), /Cancelled/);
    assert.ok(await upload.locator('.grid').isHidden());
    assert.equal((await objectBytes(BASE, file.name)).status, 404, 'a cancelled upload leaves no object');
    await page.reload();
    await page.waitForSelector('body[data-ready="true"]');
    await page.locator('#server-uploads[data-state="ready"]').waitFor({ state: 'attached' });
    assert.ok(await page.locator('#unfinished').isHidden(), 'a cancelled upload is not offered for resuming');
    assert.equal(await page.locator(`#server-uploads li[data-key="${file.name}"]`).count(), 0,
      'the server lists the cancelled upload');
    assert.deepEqual(await page.problems(), []);
  } finally {
    await close();
    fs.rmSync(file.path, { force: true });
  }
});

test(named('a file dropped on the page uploads'), LONG, async () => {
  const { page, close } = await openPage();
  const name = `dropped-${RUN}.bin`;
  const size = 3 * MiB + 123;
  try {
    await setSettings(page, { partSize: 1 * MiB });
    // A real DataTransfer holding a File, carried by DragEvents the page's listeners receive as
    // they would from a person's drag (every engine here has both constructors).
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
    const stored = await objectBytes(BASE, name);
    assert.equal(stored.status, 200);
    assert.equal(sha256(stored.body), sha256(expected));
    assert.deepEqual(await page.problems(), []);
  } finally {
    await close();
  }
});

test(named('failing part requests are retried, shown as retrying, and the file still arrives intact'), LONG, async () => {
  const file = makeFile(`flaky-${RUN}.bin`, 8 * MiB); // 32 parts of 256 KiB
  const { page, proxy, close } = await openPage();
  try {
    await setSettings(page, { partSize: 256 * KiB, concurrency: 3 });
    proxy.partDelay = 150;
    proxy.dropEvery = 4; // every fourth part request: the connection drops as the answer begins
    await page.locator('#file-input').setInputFiles(file.path);
    const upload = card(page, file.name);
    await upload.locator('.grid .cell.retrying').first().waitFor({ state: 'attached', timeout: 60_000 });
    await page.screenshot('retrying.png', { show: upload });
    await waitPhase(upload, 'done');
    assert.ok(proxy.dropped >= 3, `only ${proxy.dropped} requests were made to fail`);
    assert.match(await upload.locator('.retries').innerText(), /^\d+ retr(y|ies)$/);
    // The page saw every dropped connection: one retry each, none hidden, none counted twice.
    assert.equal(await upload.locator('.retries').innerText(), proxy.dropped === 1 ? '1 retry' : `${proxy.dropped} retries`);
    // Every part went up once, plus once more for each dropped connection: nothing sent twice.
    assert.equal(proxy.parts, 32 + proxy.dropped);
    assert.equal(sha256((await objectBytes(BASE, file.name)).body), file.sha256);
    assert.deepEqual(await page.problems(), []);
  } finally {
    await close();
    fs.rmSync(file.path, { force: true });
  }
});

test(named('pause stops sending parts, resume finishes the upload'), LONG, async () => {
  const file = makeFile(`paused-${RUN}.bin`, 16 * MiB);
  const { page, proxy, close } = await openPage();
  try {
    await setSettings(page, { partSize: 256 * KiB, concurrency: 3 });
    proxy.partDelay = 250;
    await page.locator('#file-input').setInputFiles(file.path);
    const upload = card(page, file.name);
    await waitPartsDone(upload, 8);
    await page.screenshot('mid-upload.png', { show: upload });

    await upload.locator('button.pause').click();
    await waitPhase(upload, 'paused', 30_000);
    assert.ok(await upload.locator('button.resume').isVisible());
    assert.ok(await upload.locator('button.pause').isHidden());
    const requestsAtPause = proxy.parts;
    const partsAtPause = Number(await upload.getAttribute('data-parts-done'));
    await sleep(2000);
    assert.equal(proxy.parts, requestsAtPause, 'no part request starts while paused');
    assert.equal(Number(await upload.getAttribute('data-parts-done')), partsAtPause);
    assert.equal(await upload.locator('.badge').innerText(), 'Paused');

    await upload.locator('button.resume').click();
    await waitPhase(upload, 'done');
    assert.equal(sha256((await objectBytes(BASE, file.name)).body), file.sha256);
    // Parts finished before the pause were not sent again: at most the ones aborted in flight were.
    assert.ok(proxy.parts <= 64 + 3, `sent ${proxy.parts} part requests for 64 parts`);
    assert.deepEqual(await page.problems(), []);
  } finally {
    await close();
    fs.rmSync(file.path, { force: true });
  }
});

test(named('after a reload, picking the same file again resumes and skips the parts already sent'), LONG, async () => {
  const file = makeFile(`reloaded-${RUN}.bin`, 16 * MiB);
  const { page, proxy, close } = await openPage();
  try {
    await setSettings(page, { partSize: 256 * KiB, concurrency: 2 });
    proxy.partDelay = 200;
    await page.locator('#file-input').setInputFiles(file.path);
    const doneBefore = await waitPartsDone(card(page, file.name), 20);
    const sentBefore = proxy.parts;

    await page.reload();
    await page.waitForSelector('body[data-ready="true"]');
    // Offered once: in the server's list, which the list of this browser's memory leaves out.
    const unfinished = page.locator(`#server-uploads li[data-key="${file.name}"]`);
    await unfinished.waitFor({ state: 'visible' });
    assert.match(await unfinished.innerText(), new RegExp(file.name.replace(/\./g, '\\.')));
    assert.equal(await page.locator(`#unfinished li[data-key="${file.name}"]`).count(), 0, 'offered twice');
    await page.screenshot('after-reload.png', { show: page.locator('#server-uploads') });

    proxy.parts = 0;
    await page.locator('#file-input').setInputFiles(file.path);
    const upload = card(page, file.name);
    await waitPhase(upload, 'done');
    const skipped = Number(await upload.getAttribute('data-skipped-parts'));
    const note = await upload.locator('.note').innerText();
    assert.match(note, new RegExp(`Resumed: ${skipped} parts of 64 were already on the server`));
    assert.ok(skipped >= doneBefore, `skipped ${skipped}, but ${doneBefore} parts were done before the reload`);
    assert.ok(proxy.parts <= 64 - doneBefore,
      `after the reload ${proxy.parts} part requests were sent; ${doneBefore} of 64 parts were on the server`);
    assert.ok(proxy.parts + skipped >= 64);
    await unfinished.waitFor({ state: 'hidden' });
    assert.ok(await page.locator('#unfinished').isHidden(), 'this browser\'s list is empty once the upload is done');
    console.log(`# reload: ${sentBefore} part requests before, ${proxy.parts} after, ${skipped} parts skipped`);

    assert.equal(sha256((await objectBytes(BASE, file.name)).body), file.sha256);
    assert.deepEqual(await page.problems(), []);
  } finally {
    await close();
    fs.rmSync(file.path, { force: true });
  }
});

test(named('several files queue (two at a time) and the page works in a 380 px wide window'), LONG, async () => {
  const files = [1, 2, 3, 4].map((n) => makeFile(`queued-${n}-${RUN}.bin`, 2 * MiB + n * 1000));
  const { page, proxy, close } = await openPage({ width: 380, height: 800 });
  try {
    await setSettings(page, { partSize: 256 * KiB, concurrency: 2, key: `queue-${RUN}/` });
    proxy.partDelay = 150;
    await page.locator('#file-input').setInputFiles(files.map((f) => f.path));
    const cards = page.locator('#uploads .upload');
    assert.equal(await cards.count(), 4);
    await waitPartsDone(card(page, `queue-${RUN}/${files[0].name}`), 3);
    const phases = await cards.evaluateAll((all) => all.map((c) => c.dataset.phase));
    const active = phases.filter((p) => !['queued', 'done'].includes(p)).length;
    assert.ok(active <= 2, `at most two files upload at once, saw ${phases.join(', ')}`);
    assert.ok(phases.includes('queued'), `the others wait: ${phases.join(', ')}`);
    const [overflow, viewport] = await page.evaluate(() => [document.documentElement.scrollWidth - window.innerWidth, window.innerWidth]);
    assert.equal(viewport, 380);
    assert.ok(overflow <= 0, `the page scrolls sideways by ${overflow}px at 380px`);
    await page.screenshot('narrow-mid-upload.png', { show: cards.first() });

    for (const f of files) await waitPhase(card(page, `queue-${RUN}/${f.name}`), 'done');
    assert.equal(await page.locator('#completed li').count(), 4);
    await page.screenshot('narrow-done.png', { show: page.locator('#completed') });
    assert.deepEqual(await page.problems(), []);
  } finally {
    await close();
    for (const f of files) fs.rmSync(f.path, { force: true });
  }
});

test(named('with Instant upload on, the same bytes uploaded again are done without a part request'), LONG, async () => {
  const first = makeFile(`instant-a-${RUN}.bin`, 3 * MiB + 5);
  // The same bytes under another name: the default key is the file's name, so another object.
  const second = { ...first, name: `instant-b-${RUN}.bin`, path: first.path.replace('instant-a-', 'instant-b-') };
  fs.copyFileSync(first.path, second.path);
  const { page, proxy, close } = await openPage();
  try {
    await setSettings(page, { partSize: MiB });
    await page.locator('#instant').click();
    assert.match(await page.evaluate(() => document.querySelector('#settings-summary').textContent), / · instant$/);
    await page.locator('#file-input').setInputFiles(first.path);
    const stored = card(page, first.name);
    await waitPhase(stored, 'done');
    assert.equal(proxy.parts, 4, 'new content: every part is sent');
    assert.ok(await stored.locator('.instant').isHidden());

    proxy.parts = 0;
    await page.locator('#file-input').setInputFiles(second.path);
    const copy = card(page, second.name);
    await waitPhase(copy, 'done');
    assert.equal(await copy.locator('.instant').innerText(), 'instant: already on the server');
    assert.equal(proxy.parts, 0, 'no part request for content the server has');
    assert.equal(await copy.getAttribute('data-parts-done'), '4');
    await page.screenshot('instant.png', { show: copy });
    assert.equal(sha256((await objectBytes(BASE, second.name)).body), first.sha256);

    // The setting is remembered like the others.
    await page.reload();
    await page.waitForSelector('body[data-ready="true"]');
    assert.equal(await page.evaluate(() => document.querySelector('#instant').checked), true);
    assert.deepEqual(await page.problems(), []);
  } finally {
    await close();
    fs.rmSync(first.path, { force: true });
    fs.rmSync(second.path, { force: true });
  }
});
