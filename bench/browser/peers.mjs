// The peers rows of BENCHMARKS.md (16: loopback, 17: the shaped link): the same in-memory File, in the
// same page of headless Chromium, uploaded by partup and by the uploaders a user would pick instead,
// each with its default settings (none of them has an integrity option to turn on: see `verifies`):
//   partup          the wasm client (8 MiB parts, 4 at once, default hashing workers) → partup-server
//   tus             tus-js-client → @tus/server + @tus/file-store (defaults: one PATCH with the file)
//   tus-8mib        the same with 8 MiB chunks (one PATCH after another)
//   uppy            Uppy's @uppy/aws-s3 multipart → Garage (S3), signed in the page
//   raw             one plain fetch POST of the File to a discarding sink: the ceiling
// Rounds interleaved, the order rotating per round. After each upload the stored bytes are read back
// (partup's object over HTTP, the tus file on disk, the S3 object) and their MD5 compared with the
// File's, so a fast but wrong upload fails the run.
//
//   node bench/browser/peers.mjs --page URL/bench/peers.html --partup URL --tus URL --tus-dir DIR \
//        --s3-endpoint URL [--s3-verify URL] --s3-bucket B --s3-region R --sink URL --work DIR \
//        --out FILE [--id 16] [--netns NAME --rate-mbit N --latency-ms N] [--quick]
//
// --partup, --s3-verify: where this script reads the stored objects back (the host's side; the page
// may reach the same servers through a fault proxy). --netns: Chromium runs inside that network
// namespace (the shaped link of scripts/bench.sh), every URL the page is given being reachable from
// there. The store's key comes from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY.
import { chromium } from 'playwright-core';
import { execFileSync, spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { accumulate, cpuBetween, snapshot } from './cpu-profile.mjs';
import { log, mbps, median } from './measure.mjs';

const MIB = 1 << 20;
const args = Object.fromEntries(process.argv.slice(2).reduce((acc, arg, i, all) => {
  if (arg.startsWith('--')) acc.push([arg.slice(2), all[i + 1]?.startsWith('--') || all[i + 1] === undefined ? true : all[i + 1]]);
  return acc;
}, []));
for (const name of ['page', 'partup', 'tus', 'tus-dir', 's3-endpoint', 's3-bucket', 's3-region', 'sink', 'work', 'out']) {
  if (typeof args[name] !== 'string') throw new Error(`--${name} is required`);
}
const quick = args.quick === true;
const id = typeof args.id === 'string' ? args.id : '16';
const shaped = typeof args.netns === 'string';
const size = (quick ? 64 : 256) * MIB;
const rounds = quick ? 1 : 3;
const s3 = {
  endpoint: args['s3-endpoint'],
  verify: typeof args['s3-verify'] === 'string' ? args['s3-verify'] : args['s3-endpoint'],
  bucket: args['s3-bucket'],
  region: args['s3-region'],
  keyId: process.env.AWS_ACCESS_KEY_ID,
  secret: process.env.AWS_SECRET_ACCESS_KEY,
};
if (!s3.keyId || !s3.secret) throw new Error('AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must hold the store\'s key');

/** A request to the store, signed by curl (SigV4) as scripts/s3-store.sh signs them; returns the
 * answer's body. Garage wants the payload's SHA-256 header. */
function s3Request(method, pathAndQuery, { body = '', headers = [] } = {}) {
  const sha = crypto.createHash('sha256').update(body).digest('hex');
  const curlArgs = ['-sSf', '-X', method, '--aws-sigv4', `aws:amz:${s3.region}:s3`, '--user', `${s3.keyId}:${s3.secret}`,
    '-H', `x-amz-content-sha256: ${sha}`, ...headers.flatMap(h => ['-H', h])];
  if (body) curlArgs.push('--data-binary', body);
  return execFileSync('curl', [...curlArgs, `${s3.verify}/${s3.bucket}/${pathAndQuery}`]);
}

/** Streams the store's object `key` through MD5 (curl signs the GET; the body is never in memory). */
function s3ObjectMd5(key) {
  const sha = crypto.createHash('sha256').update('').digest('hex');
  const curl = spawn('curl', ['-sSf', '--aws-sigv4', `aws:amz:${s3.region}:s3`, '--user', `${s3.keyId}:${s3.secret}`,
    '-H', `x-amz-content-sha256: ${sha}`, `${s3.verify}/${s3.bucket}/${encodeKey(key)}`], { stdio: ['ignore', 'pipe', 'inherit'] });
  return digestOf(curl.stdout, new Promise((resolve, reject) => curl.on('close', code => (code === 0 ? resolve() : reject(new Error(`curl GET ${key}: exit ${code}`))))));
}

const encodeKey = key => key.split('/').map(encodeURIComponent).join('/');

/** MD5 (hex) and byte count of a readable stream; `finished` must resolve once its source succeeded. */
async function digestOf(stream, finished = Promise.resolve()) {
  const md5 = crypto.createHash('md5');
  let bytes = 0;
  for await (const chunk of stream) {
    md5.update(chunk);
    bytes += chunk.length;
  }
  await finished;
  return { md5: md5.digest('hex'), bytes };
}

async function urlMd5(url) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`GET ${url}: ${response.status}`);
  return digestOf(response.body);
}

// The bucket's CORS rule for Uppy, which calls the store from the page for everything (create,
// parts, complete, abort) and reads each part's ETag. Any origin: the bench's own store.
const corsRule = '<CORSConfiguration><CORSRule><AllowedOrigin>*</AllowedOrigin>'
  + ['GET', 'PUT', 'POST', 'DELETE', 'HEAD'].map(m => `<AllowedMethod>${m}</AllowedMethod>`).join('')
  + '<AllowedHeader>*</AllowedHeader><ExposeHeader>ETag</ExposeHeader><MaxAgeSeconds>3600</MaxAgeSeconds></CORSRule></CORSConfiguration>';
s3Request('PUT', '?cors=', {
  body: corsRule,
  headers: [`Content-MD5: ${crypto.createHash('md5').update(corsRule).digest('base64')}`, 'Content-Type: application/xml'],
});

// On the shaped link, Chromium starts inside the namespace: playwright runs this wrapper in its place.
let executablePath = '/usr/bin/chromium';
if (shaped) {
  executablePath = path.join(args.work, 'chromium-in-netns.sh');
  fs.writeFileSync(executablePath, `#!/bin/sh\nexec ip netns exec '${args.netns}' /usr/bin/chromium "$@"\n`, { mode: 0o755 });
}
const pageOrigin = new URL(args.page).origin;
const browser = await chromium.launch({
  executablePath,
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking',
    // Uppy signs with crypto.subtle, which only secure contexts have: the shaped link's page is on
    // http://10.213.0.1 (loopback origins are secure already).
    `--unsafely-treat-insecure-origin-as-secure=${pageOrigin}`],
});
const page = await browser.newPage();
let running = null; // the contender uploading now
page.on('pageerror', e => log(`page error${running ? ` (${running})` : ''}: ${e.name}: ${e.message}`));
page.on('console', m => {
  // The page has no favicon.ico; its 404 says nothing about the uploads.
  if ((m.type() === 'error' || m.type() === 'warning') && !m.location().url?.endsWith('/favicon.ico')) {
    log(`page console ${m.type()}: ${m.text()}`);
  }
});
page.on('requestfailed', r => log(`request failed: ${r.method()} ${r.url().split('?')[0]}: ${r.failure()?.errorText}`));
await page.goto(args.page);
await page.waitForFunction(() => window.peersReady === true);
const file = await page.evaluate(s => peers.makeFile(s), size);
// The Blobs an upload makes of the in-memory File (its slices) hold Chromium's blob store until the
// page's garbage collector drops them, and V8 does not feel that memory: without a collection
// between uploads, the third round here failed with net::ERR_BLOB_OUT_OF_MEMORY (Uppy's part PUTs).
// So garbage is collected before each upload, untimed.
const cdp = await page.context().newCDPSession(page);
// The File settles first, untimed: an upload started at once after it was built saw reads of its
// slices fail for a while ("TypeError: network error", the client's read retries), which a wait of
// 3 s ended here; all contenders then start from the same settled File.
await cdp.send('HeapProfiler.collectGarbage');
await new Promise(resolve => setTimeout(resolve, 3000));

// What each contender's requests that carry file bytes say about their content, as they leave the
// page: the integrity headers (and SigV4's payload hash in a presigned URL's query) seen on the wire.
// Playwright watches the page's network all along, so listening costs the uploads nothing more.
const integrityHeader = /^(content-md5|upload-checksum|x-amz-checksum-.*|x-amz-sdk-checksum-algorithm|x-amz-content-sha256|digest|content-digest|repr-digest)$/;
const wire = {};
page.on('request', request => {
  const url = new URL(request.url());
  const carriesBytes = (request.method() === 'PATCH') // tus
    || (request.method() === 'PUT' && url.searchParams.has('partNumber')) // an S3 part
    || (request.method() === 'POST' && url.pathname.endsWith('/upload')) // a partup part
    || (request.method() === 'POST' && running === 'raw');
  if (!running || !carriesBytes) return;
  const seen = (wire[running] ??= { requests: 0, integrity: new Set() });
  seen.requests += 1;
  for (const [name, value] of Object.entries(request.headers())) {
    if (integrityHeader.test(name)) seen.integrity.add(`${name}: ${value}`);
  }
  const payloadHash = url.searchParams.get('X-Amz-Content-Sha256');
  if (payloadHash) seen.integrity.add(`X-Amz-Content-Sha256=${payloadHash} (query)`);
});
if (file.size !== size) throw new Error(`the page made ${file.size} bytes, not ${size}`);

/** Throws unless the stored copy is the File. */
function check(name, stored) {
  if (stored.bytes !== size || stored.md5 !== file.md5) {
    throw new Error(`${name}: stored ${stored.bytes} bytes with MD5 ${stored.md5}; the file is ${size} bytes, MD5 ${file.md5}`);
  }
}

const partSize = 8 * MIB;
const partupCompleteMs = []; // from the phase 'completing' to done, per upload
let partupRetries = 0;
const contenders = {
  partup: {
    label: 'partup wasm client → partup-server (8 MiB parts, 4 at once)',
    short: 'partup',
    async run() {
      const key = 'bench/peers.bin'; // the same key each round: the object is replaced, never piles up
      const r = await profiled(() => page.evaluate(([k, p]) => peers.partup(k, p, 4), [key, partSize]));
      if (r.size !== size) throw new Error(`partup: uploaded ${r.size} of ${size} bytes`);
      partupCompleteMs.push(r.completeMs);
      partupRetries += r.retries;
      check('partup', await urlMd5(`${args.partup}/v1/objects/${encodeKey(key)}`));
      return r.ms;
    },
  },
  tus: {
    label: 'tus-js-client → @tus/server + @tus/file-store, defaults (one PATCH)',
    short: 'tus, defaults',
    run: () => tusRun(undefined),
  },
  'tus-8mib': {
    label: 'tus-js-client → @tus/server + @tus/file-store, 8 MiB chunks',
    short: 'tus, 8 MiB chunks',
    run: () => tusRun(partSize),
  },
  uppy: {
    label: 'Uppy @uppy/aws-s3 multipart → Garage (S3), defaults',
    short: 'Uppy → S3',
    async run() {
      const r = await profiled(() => page.evaluate(([e, g, k, s]) => peers.uppy(e, g, k, s),
        [`${s3.endpoint}/${s3.bucket}`, s3.region, s3.keyId, s3.secret]));
      if (!r.key) throw new Error(`Uppy: no key in its result (location ${r.location})`);
      check('uppy', await s3ObjectMd5(r.key));
      s3Request('DELETE', encodeKey(r.key));
      return r.ms;
    },
  },
  raw: {
    label: 'one fetch POST of the File → discarding sink',
    short: 'raw fetch',
    async run() {
      const r = await profiled(() => page.evaluate(u => peers.raw(u), args.sink));
      // The sink keeps nothing to compare: its count of the bytes it read is the check.
      if (r.size !== size) throw new Error(`raw: the sink read ${r.size} of ${size} bytes`);
      return r.ms;
    },
  },
};

async function tusRun(chunkSize) {
  const r = await profiled(() => page.evaluate(([e, c]) => peers.tus(e, c), [`${args.tus}/files/`, chunkSize]));
  const uploadId = new URL(r.url).pathname.split('/').pop();
  const stored = path.join(args['tus-dir'], uploadId);
  check(chunkSize ? 'tus-8mib' : 'tus', await digestOf(fs.createReadStream(stored)));
  fs.rmSync(stored);
  fs.rmSync(`${stored}.json`, { force: true });
  return r.ms;
}

// --only a,b runs only those contenders (for development; the rows need all of them).
const names = typeof args.only === 'string' ? args.only.split(',') : Object.keys(contenders);
const speeds = Object.fromEntries(names.map(n => [n, []]));
// CPU seconds by kind of process, summed over the rounds (cpu-profile.mjs), for the uploads alone:
// the read-back checks of the stored copies are outside `profiled`.
const cpu = Object.fromEntries(names.map(n => [n, {}]));

/** Runs the upload `upload()` starts, adding the CPU the machine spent meanwhile to `running`'s. */
async function profiled(upload) {
  const before = snapshot();
  const result = await upload();
  accumulate(cpu[running], cpuBetween(before, snapshot()));
  return result;
}
for (let round = 0; round < rounds; round++) {
  for (let k = 0; k < names.length; k++) {
    const name = names[(k + round) % names.length];
    await cdp.send('HeapProfiler.collectGarbage');
    running = name;
    speeds[name].push(mbps(size, await contenders[name].run()));
    running = null;
  }
  log(`row ${id}, round ${round + 1}: ` + names.map(n => `${n} ${speeds[n].at(-1).toFixed(1)}`).join(', ') + ' MB/s (every stored copy checked)');
}

// What the tus server says it supports (the checksum extension would be listed here).
const tusOptions = await fetch(`${args.tus}/files/`, { method: 'OPTIONS' });
const tusExtensions = tusOptions.headers.get('tus-extension') ?? '(none)';
await browser.close();
if (names.length !== Object.keys(contenders).length) {
  log('--only: no rows written');
  process.exit(0);
}

const link = shaped
  ? `Shaped link (${args['rate-mbit']} Mbit/s token bucket; ${args['latency-ms']} ms held on every request that carries file bytes)`
  : 'Loopback';
const peerNames = ['tus', 'tus-8mib', 'uppy'];
const faster = peerNames.reduce((best, n) => (median(speeds[n]) > median(speeds[best]) ? n : best));
const ratiosTo = other => speeds.partup.map((v, i) => v / speeds[other][i]);
const medians = peerNames.map(n => `${contenders[n].short} ${median(speeds[n]).toFixed(1)}`).join(', ');
const what = `${link}: one ${size / MIB} MiB in-memory File (random bytes) in headless Chromium, from the upload's start until done; every stored copy read back and its MD5 checked`;
const rows = [{
  id,
  title: `${what}; partup vs the faster of its peers`,
  unit: 'MB/s',
  subjectLabel: contenders.partup.label,
  subject: speeds.partup,
  baselineLabel: `the faster peer: ${contenders[faster].label}`,
  baseline: speeds[faster],
  ratios: ratiosTo(faster),
  target: shaped ? 'ahead of both peers (> 1.0× the faster)' : '≥ 0.9× the faster peer',
  holds: shaped ? peerNames.every(n => median(ratiosTo(n)) > 1.0) : median(ratiosTo(faster)) >= 0.9,
  detail: `peers' medians (MB/s): ${medians}; raw fetch ceiling ${median(speeds.raw).toFixed(1)} MB/s; `
    + `partup's uploadComplete (assembly and fsync of the object) ${median(partupCompleteMs).toFixed(0)} ms of each upload (median), `
    + `${partupRetries} request(s) retried in all`,
}];
for (const name of [...peerNames, 'raw']) {
  rows.push({
    id: `${id} (vs ${contenders[name].short})`,
    title: `${shaped ? 'Shaped link' : 'Loopback'}, the same uploads: partup vs ${contenders[name].short}`,
    unit: 'MB/s',
    subjectLabel: 'partup',
    subject: speeds.partup,
    baselineLabel: contenders[name].label,
    baseline: speeds[name],
    ratios: ratiosTo(name),
    target: 'reported',
    holds: true,
    detail: '',
  });
}
const notes = [verifies(tusExtensions), `Row ${id}, on the wire: ${wireText()}.`, `Row ${id}, where the CPU goes: ${cpuText()}.`];
if (quick) notes.push(`Quick mode: rows 16 and 17 upload a ${size / MIB} MiB file, one round (the full run: 256 MiB, 3 rounds).`);
fs.writeFileSync(args.out, JSON.stringify({ rows, notes }, null, 2));

/** CPU seconds per upload (mean over the rounds) by kind of process, per contender, biggest first;
 * kinds under 0.05 s left out. */
function cpuText() {
  const profile = names.map(name => {
    const perUpload = Object.entries(cpu[name]).map(([kind, s]) => [kind, s / rounds]);
    const total = perUpload.reduce((sum, [, s]) => sum + s, 0);
    const parts = perUpload.filter(([, s]) => s >= 0.05).sort((a, b) => b[1] - a[1])
      .map(([kind, s]) => `${kind} ${s.toFixed(2)}`).join(', ');
    return `${contenders[name].short}: **${total.toFixed(2)} CPU s** per upload (${parts})`;
  }).join('; ');
  return `user + system seconds from /proc, by process, per upload of ${size / MIB} MiB (the whole `
    + `machine while it ran, ${os.cpus().length} cores); ${profile}`;
}

/** The requests that carried file bytes per contender and the integrity headers they had. */
function wireText() {
  return names.map(name => {
    const seen = wire[name] ?? { requests: 0, integrity: new Set() };
    const integrity = seen.integrity.size ? [...seen.integrity].map(h => `\`${h}\``).join(', ') : 'no integrity header';
    // partup's digest is a field of each part's form body, which no header shows.
    const form = name === 'partup' ? ' (each part\'s MD5 is a field of its form body)' : '';
    return `${contenders[name].short}: ${seen.requests / rounds} request(s) with file bytes per upload, ${integrity}${form}`;
  }).join('; ');
}

/** What each contender checks, read from the pinned packages' code (bench/package-lock.json), with
 * the tus server's own list of extensions as it answered above. */
function verifies(extensions) {
  return 'What the contenders of the peers rows verify. **partup**: the page hashes every part (MD5) and '
    + 'sends the digest with it; the server hashes the bytes it receives, refuses a mismatch (`BadDigest`, the '
    + 'part is sent again), fsyncs the part before answering, and completes only parts whose listed MD5s are '
    + 'the ones it stored: end to end, per part. **tus-js-client 4.3.1 → @tus/server 2.4.5 + @tus/file-store '
    + '2.1.1**: no integrity option on either side. tus-js-client never sends `Upload-Checksum` (the tus '
    + `checksum extension is not in its code), and the server does not offer that extension (its \`Tus-Extension\`: ${extensions}); `
    + 'it checks the protocol\'s offsets and lengths only (a PATCH must start at the stored `Upload-Offset`; the '
    + 'upload ends at `Upload-Length`), and the file store writes without fsync. **Uppy 6.0.1 (the bundle\'s '
    + '@uppy/aws-s3 6.1.0; the latest, 6.3.1, sends none either) → Garage 2.5.0**: no integrity option. Its presigned URLs sign '
    + 'the host only, with `X-Amz-Content-Sha256: UNSIGNED-PAYLOAD`, and no request carries `Content-MD5` or '
    + '`x-amz-checksum-*`; Garage answers each part with its MD5 as the ETag, which Uppy hands to '
    + 'CompleteMultipartUpload without comparing it with anything; Garage\'s default is no fsync of data. So '
    + 'with either peer a byte changed between the page\'s File and the store (a faulty proxy or middlebox, '
    + 'memory) is stored without a word: only byte counts and TCP\'s 16-bit checksum stand in the way. '
    + '**raw fetch**: nothing; the sink counts the bytes and drops them. The bench reads every stored copy '
    + 'back and compares its MD5 with the File\'s (computed with hash-wasm, which no contender uses).';
}
