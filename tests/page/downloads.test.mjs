// Safe downloads in a real browser, in the engine scripts/test-page.sh runs it in: an uploaded .html
// and .svg, each with a script that tries to read the origin's localStorage and cookies, opened by
// their object URL. They must download instead of rendering; and even when something makes the
// browser render one (simulated here by the test proxy stripping Content-Disposition on the way),
// `Content-Security-Policy: sandbox` gives it an opaque origin with no script. A control without the
// server's headers shows the probe does leak. The origin is the test proxy's (harness/proxy.mjs) in
// front of the script's server (PARTUP_BASE_URL): the page, the probe and the secret share it.
//
// Checked the same way in every engine: each saves downloads into a directory the test reads
// (browser.mjs), so "became a download" is a file of the probe's name and bytes on disk, and the
// page (or the new tab) stayed where it was.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { openBrowser } from './browser.mjs';
import { startTestProxy } from './harness/proxy.mjs';
import { RUN, named, objectUrl, sleep } from './helpers.mjs';

const BASE = process.env.PARTUP_BASE_URL;
if (!BASE) throw new Error('PARTUP_BASE_URL is not set: run scripts/test-page.sh');
const MARKER = `secret-${RUN}`;
const TIMEOUT = { timeout: 120_000 };

// What the probe does when its script runs: read the origin's storage and cookies, write into its
// storage, and tell whoever opened or embedded it, by message and by its title.
const PROBE = `
  let seen;
  try {
    seen = 'storage=' + localStorage.getItem('partup-marker') + ';cookie=' + document.cookie;
    localStorage.setItem('partup-probe-wrote', 'yes');
  } catch (error) {
    seen = 'blocked:' + error.name;
  }
  document.title = 'ran ' + seen;
  for (const target of [window.opener, window.parent]) {
    try { if (target && target !== window) target.postMessage('probe ' + seen, '*'); } catch (error) {}
  }`;
const PROBES = {
  html: { key: `xss-${RUN}/probe.html`, name: 'probe.html',
    body: `<!doctype html><meta charset="utf-8"><title>probe</title><h1>uploaded page</h1><script>${PROBE}</script>` },
  svg: { key: `xss-${RUN}/probe.svg`, name: 'probe.svg',
    body: `<svg xmlns="http://www.w3.org/2000/svg" width="200" height="80"><title>probe</title>` +
      `<text x="10" y="40">uploaded svg</text><script><![CDATA[${PROBE}]]></script></svg>` },
};

/** Uploads `body` under `key` through the API (one part). */
async function putObject(key, body) {
  const api = `${BASE}/v1/multipart/parallel`;
  const json = (value) => ({ method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(value) });
  const { uploadId } = await (await fetch(`${api}/uploadInit`, json({ resourceKey: key }))).json();
  const md5 = crypto.createHash('md5').update(body).digest('hex');
  const form = new FormData();
  form.append('uploadId', uploadId);
  form.append('partNumber', '1');
  form.append('md5', md5);
  form.append('content', new Blob([body]), 'blob');
  assert.equal((await fetch(`${api}/upload`, { method: 'POST', body: form })).status, 200);
  const done = await fetch(`${api}/uploadComplete`, json({ uploadId, completeMultipartUpload: [{ partNumber: 1, md5 }] }));
  assert.equal(done.status, 200, await done.text());
}

before(async () => {
  for (const probe of Object.values(PROBES)) await putObject(probe.key, probe.body);
});

/**
 * A fresh session on a page of the proxy's origin holding a secret in localStorage and a cookie,
 * collecting messages. pageLoadStrategy 'none': geckodriver's navigation to an address that turns
 * into a download never returns (it waits for a document that never loads); browser.mjs `goto`
 * waits for real documents itself.
 */
async function originPage() {
  const proxy = await startTestProxy(BASE);
  const page = await openBrowser({ pageLoadStrategy: 'none' });
  const close = async () => {
    try {
      await page.close();
    } finally {
      proxy.close();
    }
  };
  try {
    await page.goto(`${proxy.base}/healthz`);
    await page.evaluate((marker) => {
      localStorage.setItem('partup-marker', marker);
      document.cookie = `partup-marker=${marker}; path=/`;
      window.probeMessages = [];
      window.addEventListener('message', (event) => window.probeMessages.push(String(event.data)));
    }, MARKER);
    return { page, proxy, origin: await page.driver.getWindowHandle(), close };
  } catch (error) {
    await close();
    throw error;
  }
}

/** What the probe left in the origin: messages received, and whether it wrote into storage. */
async function originState(page) {
  return page.evaluate(() => ({
    messages: window.probeMessages,
    wrote: localStorage.getItem('partup-probe-wrote'),
    marker: localStorage.getItem('partup-marker'),
  }));
}

for (const [kind, probe] of Object.entries(PROBES)) {
  test(named(`an uploaded .${kind} opened by its URL downloads instead of rendering, and reaches nothing of the origin`), TIMEOUT, async () => {
    const { page, proxy, origin, close } = await originPage();
    try {
      const url = objectUrl(proxy.base, probe.key);
      const headers = await page.evaluate(async (u) => Object.fromEntries((await fetch(u, { method: 'HEAD' })).headers), url);
      assert.equal(headers['x-content-type-options'], 'nosniff');
      assert.equal(headers['content-security-policy'], 'sandbox');
      assert.match(headers['content-disposition'], /^attachment; filename="probe\.(html|svg)"/);

      // A link on the origin's page: the browser saves the file, the page stays where it was.
      await page.evaluate((u) => {
        const link = document.createElement('a');
        link.href = u;
        document.body.append(link);
        link.click();
      }, url);
      assert.equal((await page.downloads.take(probe.name)).toString(), probe.body);
      assert.equal(await page.url(), `${proxy.base}/healthz`);

      // Typed into the address bar (a top-level navigation): a download, not a document.
      await page.newWindow();
      await page.goto(url, { wait: false });
      assert.equal((await page.downloads.take(probe.name)).toString(), probe.body);
      assert.equal(await page.url(), 'about:blank', 'the tab shows no document of the object');

      // Opened by the page (so a script there would have `opener`) and embedded in a frame.
      await page.switchTo(origin);
      const opened = await page.evaluate((u) => {
        const popup = window.open(u);
        const frame = document.createElement('iframe');
        frame.src = u;
        document.body.append(frame);
        return popup !== null;
      }, url);
      assert.ok(opened, 'the browser let the page open the object in a new window');
      await sleep(2000);
      assert.deepEqual(await originState(page), { messages: [], wrote: null, marker: MARKER });
    } finally {
      await close();
    }
  });

  test(named(`an uploaded .${kind} rendered anyway (Content-Disposition stripped) runs sandboxed, in an opaque origin`), TIMEOUT, async () => {
    const { page, proxy, origin, close } = await originPage();
    try {
      // Two addresses of the same object (the server ignores the query), so that the browser's
      // cache never gives one view the other's headers.
      const control = `${objectUrl(proxy.base, probe.key)}?view=control`;
      const url = `${objectUrl(proxy.base, probe.key)}?view=sandboxed`;
      const stripped = { [new URL(control).pathname + new URL(control).search]: ['content-disposition', 'content-security-policy'],
        [new URL(url).pathname + new URL(url).search]: ['content-disposition'] };
      proxy.stripHeaders = (requested) => stripped[requested] || [];

      // Control: the same bytes without the server's safety headers leak the secret, so the probe works.
      await page.newWindow();
      await page.goto(control, { wait: false });
      await page.waitForFunction(() => document.title.startsWith('ran '));
      assert.match(await page.title(), new RegExp(`storage=${MARKER};cookie=.*partup-marker=${MARKER}`));
      await page.driver.close();
      await page.switchTo(origin);
      await page.evaluate(() => localStorage.removeItem('partup-probe-wrote'));

      // The server's headers minus Content-Disposition: rendered, but sandboxed.
      const answered = await fetch(url, { method: 'HEAD' });
      assert.equal(answered.headers.get('content-security-policy'), 'sandbox');
      assert.equal(answered.headers.get('content-disposition'), null);
      await page.newWindow();
      await page.goto(url);
      await sleep(1000);
      assert.equal(await page.title(), 'probe', 'the uploaded script ran');
      const inside = await page.evaluate(() => {
        let storage;
        try {
          storage = `readable: ${localStorage.getItem('partup-marker')}`;
        } catch (error) {
          storage = error.name;
        }
        return { origin: self.origin, storage, cookie: (() => { try { return document.cookie; } catch (error) { return error.name; } })() };
      });
      assert.deepEqual(inside, { origin: 'null', storage: 'SecurityError', cookie: 'SecurityError' });
      await page.screenshot(`sandboxed-${kind}.png`);
      await page.switchTo(origin);
      assert.deepEqual(await originState(page), { messages: [], wrote: null, marker: MARKER });
    } finally {
      await close();
    }
  });
}
