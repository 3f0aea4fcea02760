// The harness itself, in the engine scripts/test-page.sh runs it in: what the other suites rely on
// and could otherwise pass without (an error recorder that records nothing, a viewport of another
// width, a file input holding one file of several).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { RUN, makeFile, named, openPage } from './helpers.mjs';

const TIMEOUT = { timeout: 120_000 };

/** Runs `source` as a script of the page's own (WebDriver's scripts run apart from the page's). */
const runInPage = (page, source) => page.evaluate((text) => {
  const script = document.createElement('script');
  script.textContent = text;
  document.head.append(script);
}, source);

test(named('the page\'s uncaught errors, unhandled rejections and console.error calls are recorded, across a reload'), TIMEOUT, async () => {
  const { page, close } = await openPage();
  try {
    assert.deepEqual(await page.problems(), []);
    await runInPage(page, `console.error('logged', { code: 1 });
      setTimeout(() => { throw new Error('thrown'); });
      Promise.reject(new Error('unhandled'));`);
    await page.waitForFunction(() => JSON.parse(sessionStorage.getItem('partup-test-problems')).length === 3);
    await page.reload();
    await page.waitForSelector('body[data-ready="true"]');
    await runInPage(page, 'console.error("after the reload")');
    const problems = (await page.problems()).sort();
    assert.equal(problems.length, 4, problems.join('\n'));
    assert.match(problems[0], /^console error: after the reload$/);
    assert.match(problems[1], /^console error: logged \{"code":1\}$/);
    assert.match(problems[2], /^page error: .*thrown$/);
    assert.match(problems[3], /^page error: unhandled rejection: Error: unhandled$/);
  } finally {
    await close();
  }
});

test(named('the file input takes several files at once, and the viewport is as wide as asked'), TIMEOUT, async () => {
  const files = [1, 2, 3].map((n) => makeFile(`harness-${n}-${RUN}.bin`, n * 1000));
  const { page, close } = await openPage({ width: 380, height: 700 });
  try {
    assert.deepEqual(await page.evaluate(() => [window.innerWidth, window.innerHeight]), [380, 700]);
    // Picked files go straight into the queue (app.js empties the input): read them off the cards.
    await page.locator('#file-input').setInputFiles(files.map((f) => f.path));
    const names = await page.locator('#uploads .upload .name').evaluateAll((all) => all.map((el) => el.textContent));
    assert.deepEqual(names, files.map((f) => f.name));
  } finally {
    await close();
    for (const f of files) fs.rmSync(f.path, { force: true });
  }
});
