// Safe downloads in a real browser: an uploaded .html and .svg, each with a script that tries to
// read the origin's localStorage and cookies, opened by their object URL. They must download
// instead of rendering; and even when something makes the browser render one (simulated here by
// stripping Content-Disposition on the way), `Content-Security-Policy: sandbox` gives it an opaque
// origin with no script. A control without the server's headers shows the probe does leak.
// Run by scripts/test-page.sh against its server (PARTUP_BASE_URL).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { launchChromium } from './browser.mjs';

const BASE = process.env.PARTUP_BASE_URL;
if (!BASE) throw new Error('PARTUP_BASE_URL is not set: run scripts/test-page.sh');
const ARTIFACTS = process.env.PARTUP_ARTIFACTS || path.resolve('artifacts');
const RUN = Date.now().toString(36);
const MARKER = `secret-${RUN}`;
fs.mkdirSync(ARTIFACTS, { recursive: true });
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

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
const objectUrl = (key) => `${BASE}/v1/objects/${key.split('/').map(encodeURIComponent).join('/')}`;

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

let browser;
before(async () => {
  browser = await launchChromium();
  for (const probe of Object.values(PROBES)) await putObject(probe.key, probe.body);
});
after(async () => {
  await browser?.close();
});

/** A page of the server's origin holding a secret in localStorage and a cookie, collecting messages. */
async function originPage() {
  const context = await browser.newContext({ acceptDownloads: true });
  const page = await context.newPage();
  page.setDefaultTimeout(30_000);
  await page.goto(`${BASE}/healthz`);
  await page.evaluate((marker) => {
    localStorage.setItem('partup-marker', marker);
    document.cookie = `partup-marker=${marker}; path=/`;
    window.probeMessages = [];
    window.addEventListener('message', (event) => window.probeMessages.push(String(event.data)));
  }, MARKER);
  return { context, page };
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
  test(`an uploaded .${kind} opened by its URL downloads instead of rendering, and reaches nothing of the origin`, async () => {
    const { context, page } = await originPage();
    try {
      const url = objectUrl(probe.key);
      const headers = await page.evaluate(async (u) => Object.fromEntries((await fetch(u, { method: 'HEAD' })).headers), url);
      assert.equal(headers['x-content-type-options'], 'nosniff');
      assert.equal(headers['content-security-policy'], 'sandbox');
      assert.match(headers['content-disposition'], /^attachment; filename="probe\.(html|svg)"/);

      // A link on the origin's page: the browser saves the file, the page stays where it was.
      const clicked = page.waitForEvent('download');
      await page.evaluate((u) => {
        const link = document.createElement('a');
        link.href = u;
        document.body.append(link);
        link.click();
      }, url);
      assert.equal((await clicked).suggestedFilename(), probe.name);
      assert.equal(page.url(), `${BASE}/healthz`);

      // Typed into the address bar (a top-level navigation): a download, not a document.
      const tab = await context.newPage();
      const saved = tab.waitForEvent('download');
      const navigation = await tab.goto(url).then(() => 'rendered', (error) => error.message);
      assert.match(navigation, /Download is starting/);
      assert.equal((await saved).suggestedFilename(), probe.name);

      // Opened by the page (so a script there would have `opener`) and embedded in a frame.
      await page.evaluate((u) => {
        window.open(u);
        const frame = document.createElement('iframe');
        frame.src = u;
        document.body.append(frame);
      }, url);
      await sleep(2000);
      assert.deepEqual(await originState(page), { messages: [], wrote: null, marker: MARKER });
    } finally {
      await context.close();
    }
  });

  test(`an uploaded .${kind} rendered anyway (Content-Disposition stripped) runs sandboxed, in an opaque origin`, async () => {
    const { context, page } = await originPage();
    try {
      const url = objectUrl(probe.key);
      // Control: the same bytes without the server's safety headers leak the secret, so the probe works.
      const unsafe = await context.newPage();
      await unsafe.route(url, async (route) => {
        const response = await route.fetch();
        const headers = { ...response.headers() };
        delete headers['content-disposition'];
        delete headers['content-security-policy'];
        await route.fulfill({ response, headers });
      });
      await unsafe.goto(url);
      await unsafe.waitForFunction(() => document.title.startsWith('ran '));
      assert.match(await unsafe.title(), new RegExp(`storage=${MARKER};cookie=.*partup-marker=${MARKER}`));
      await unsafe.close();
      await page.evaluate(() => localStorage.removeItem('partup-probe-wrote'));

      // The server's headers minus Content-Disposition: rendered, but sandboxed.
      const tab = await context.newPage();
      await tab.route(url, async (route) => {
        const response = await route.fetch();
        const headers = { ...response.headers() };
        delete headers['content-disposition'];
        assert.equal(headers['content-security-policy'], 'sandbox');
        await route.fulfill({ response, headers });
      });
      await tab.goto(url);
      await sleep(1000);
      assert.equal(await tab.title(), 'probe', 'the uploaded script ran');
      const inside = await tab.evaluate(() => {
        let storage;
        try {
          storage = `readable: ${localStorage.getItem('partup-marker')}`;
        } catch (error) {
          storage = error.name;
        }
        return { origin: self.origin, storage, cookie: (() => { try { return document.cookie; } catch (error) { return error.name; } })() };
      });
      assert.deepEqual(inside, { origin: 'null', storage: 'SecurityError', cookie: 'SecurityError' });
      await tab.screenshot({ path: path.join(ARTIFACTS, `sandboxed-${kind}.png`) });
      assert.deepEqual(await originState(page), { messages: [], wrote: null, marker: MARKER });
    } finally {
      await context.close();
    }
  });
}
