// The demo page on a server with direct parts (issue 14, SPEC.md §6): partup over Garage with
// --direct-parts, the bucket's CORS rule set as the README says (scripts/test-page.sh). The page
// changes nothing: its card says "direct to store", no part passes through partup (the test proxy
// in front of it counts none), and the object reads back byte-exact.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import {
  LONG, MiB, RUN, card, makeFile, named, objectBytes, openPage, setSettings, sha256, waitPhase,
} from './helpers.mjs';

const BASE = process.env.PARTUP_DIRECT_BASE_URL;
if (!BASE) throw new Error('PARTUP_DIRECT_BASE_URL is not set: run scripts/test-page.sh');

test(named('on a direct server the card says "direct to store", and the parts go to the store, not through partup'), LONG, async () => {
  // Three parts of 5 MiB (the store's smallest but the last), the last one shorter.
  const file = makeFile(`direct-${RUN}.bin`, 2 * 5 * MiB + 12_345);
  const { page, proxy, close } = await openPage({ target: BASE });
  try {
    await setSettings(page, { partSize: 5 * MiB });
    await page.locator('#file-input').setInputFiles(file.path);
    const upload = card(page, file.name);
    await upload.locator('.direct').waitFor({ state: 'visible' });
    assert.equal(await upload.locator('.direct').innerText(), 'direct to store');
    await waitPhase(upload, 'done');
    assert.equal(await upload.getAttribute('data-parts-total'), '3');
    assert.ok(await upload.locator('.direct').isVisible(), 'the label stays on the finished card');
    assert.equal(proxy.parts, 0, `${proxy.parts} part requests went through partup`);
    await page.screenshot('direct.png', { show: upload });
    assert.equal(sha256((await objectBytes(BASE, file.name)).body), file.sha256);
    assert.deepEqual(await page.problems(), []);
  } finally {
    await close();
    fs.rmSync(file.path, { force: true });
  }
});

test(named('on a server without direct parts the card has no "direct to store"'), LONG, async () => {
  const file = makeFile(`through-${RUN}.bin`, 3 * MiB);
  const { page, proxy, close } = await openPage();
  try {
    await setSettings(page, { partSize: 1 * MiB });
    await page.locator('#file-input').setInputFiles(file.path);
    const upload = card(page, file.name);
    await waitPhase(upload, 'done');
    assert.equal(await upload.locator('.direct').isVisible(), false);
    assert.equal(proxy.parts, 3);
    assert.deepEqual(await page.problems(), []);
  } finally {
    await close();
    fs.rmSync(file.path, { force: true });
  }
});
