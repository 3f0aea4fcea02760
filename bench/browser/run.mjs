// The browser rows of BENCHMARKS.md (1: MD5, 2: whole upload vs the raw ceiling, 6: client memory,
// 7: package size, 10: responsiveness, 11: hashing in workers, 12: instant upload), run in Debian's headless Chromium via playwright-core. Files are real
// pseudo-random bytes on disk (head -c /dev/urandom), handed to the page with setInputFiles, and
// deleted afterwards. Each pair runs interleaved, the order rotating per round.
//
//   node bench/browser/run.mjs --page URL --sink URL --pkg DIR --work DIR --out FILE [--quick]
import { chromium } from 'playwright-core';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import { log, mbps, median, randomFile } from './measure.mjs';
import { packageSize } from './package-size.mjs';

const MIB = 1 << 20;
const args = Object.fromEntries(process.argv.slice(2).reduce((acc, arg, i, all) => {
  if (arg.startsWith('--')) acc.push([arg.slice(2), all[i + 1]?.startsWith('--') || all[i + 1] === undefined ? true : all[i + 1]]);
  return acc;
}, []));
const quick = args.quick === true;
// --rows 1,2 runs only those rows (for development; the report needs all of them).
const only = typeof args.rows === 'string' ? new Set(args.rows.split(',')) : null;
const wanted = id => !only || only.has(id);

/** Runs `fn` and returns its wall-clock milliseconds (for native tools). */
function timeNative(fn) {
  const started = performance.now();
  const out = fn();
  return { ms: performance.now() - started, out };
}

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking'],
});
const chromiumVersion = browser.version();
const page = await browser.newPage();
page.on('pageerror', e => log(`page error: ${e.message}`));
await page.goto(args.page);
await page.waitForFunction(() => window.benchReady === true);
const cdp = await page.context().newCDPSession(page);
const rows = [];
const notes = [];

// Row 1: MD5 throughput.
if (wanted('1')) {
  const size = 64 * MIB;
  const rounds = quick ? 3 : 5;
  const file = randomFile(args.work, 'hash.bin', size);
  await page.setInputFiles('#file', file);
  await page.evaluate(() => bench.loadHashInput());
  const names = ['partup', 'hash-wasm', 'spark-md5', 'md5sum'];
  const speeds = Object.fromEntries(names.map(n => [n, []]));
  let expected = null;
  // One untimed warm-up of each wasm hasher (compilation, first-call tiering).
  for (const name of ['partup', 'hash-wasm']) await page.evaluate(n => bench.hash(n), name);
  for (let round = 0; round < rounds; round++) {
    for (let k = 0; k < names.length; k++) {
      const name = names[(k + round) % names.length];
      let ms, hex;
      if (name === 'md5sum') {
        ({ ms, out: hex } = timeNative(() => execFileSync('md5sum', [file]).toString().split(' ')[0]));
      } else {
        ({ ms, hex } = await page.evaluate(n => bench.hash(n), name));
      }
      expected ??= hex;
      if (hex !== expected) throw new Error(`${name} gave ${hex}, expected ${expected}`);
      speeds[name].push(mbps(size, ms));
    }
    log(`row 1, round ${round + 1}: ` + names.map(n => `${n} ${speeds[n].at(-1).toFixed(0)}`).join(', ') + ' MB/s');
  }
  await page.evaluate(() => bench.dropHashInput());
  fs.rmSync(file);
  for (const [base, target] of [['hash-wasm', 1.0], ['spark-md5', null], ['md5sum', 0.9]]) {
    const ratios = speeds.partup.map((v, i) => v / speeds[base][i]);
    rows.push({
      id: `1 (vs ${base})`,
      title: 'MD5 of 64 MiB in headless Chromium: Blob.stream() → hasher (md5sum: the same bytes from the page cache)',
      unit: 'MB/s',
      subjectLabel: 'partup md5OfBlob (md-5 in wasm)',
      subject: speeds.partup,
      baselineLabel: base === 'md5sum' ? 'native md5sum' : `npm ${base}, same read path, same page`,
      baseline: speeds[base],
      ratios,
      target: target === null ? 'reported' : `≥ ${target.toFixed(1)}×`,
      holds: target === null ? true : median(ratios) >= target,
      detail: '',
    });
  }
}

// Row 2: whole upload vs the browser's raw ceiling.
if (wanted('2')) {
  const size = (quick ? 256 : 1024) * MIB;
  const rounds = quick ? 2 : 3;
  const partSize = 8 * MIB;
  const concurrency = 4;
  const file = randomFile(args.work, 'upload.bin', size);
  await page.setInputFiles('#file', file);
  const partup = [], onPage = [], raw = [], md5sum = [];
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 ? ['raw', 'page', 'partup', 'md5sum'] : ['partup', 'raw', 'page', 'md5sum'];
    for (const which of order) {
      if (which === 'partup' || which === 'page') {
        // partup: the default hashWorkers; page: hashWorkers 0, hashing on the page's thread.
        const workers = which === 'page' ? 0 : undefined;
        const r = await page.evaluate(([p, c, w]) => bench.partupUpload('bench/upload.bin', p, c, w), [partSize, concurrency, workers]);
        if (r.size !== size) throw new Error(`uploaded ${r.size} of ${size} bytes`);
        if (r.hashing !== (which === 'page' ? 'main-thread' : 'workers')) throw new Error(`${which}: hashing ${r.hashing}`);
        (which === 'page' ? onPage : partup).push(mbps(size, r.ms));
      } else if (which === 'raw') {
        const r = await page.evaluate(([s, p, c]) => bench.rawUpload(s, p, c), [args.sink, partSize, concurrency]);
        raw.push(mbps(size, r.ms));
      } else {
        md5sum.push(mbps(size, timeNative(() => execFileSync('md5sum', [file])).ms));
      }
    }
    log(`row 2, round ${round + 1}: partup ${partup.at(-1).toFixed(0)} MB/s (hashing on the page's thread: ${onPage.at(-1).toFixed(0)}), raw fetch ${raw.at(-1).toFixed(0)} MB/s, md5sum ${md5sum.at(-1).toFixed(0)} MB/s`);
  }
  fs.rmSync(file);
  const ratios = partup.map((v, i) => v / raw[i]);
  rows.push({
    id: '2',
    title: `Whole upload of a ${size / MIB} MiB file from disk (setInputFiles), 8 MiB parts, 4 at once, until complete answers`,
    unit: 'MB/s',
    subjectLabel: 'partup wasm client → partup-server (fs store)',
    subject: partup,
    baselineLabel: 'plain fetch of Blob slices → discarding sink, same page',
    baseline: raw,
    ratios,
    target: '≥ 0.6× the raw ceiling',
    holds: median(ratios) >= 0.6,
    detail: `md5sum of the same file: ${median(md5sum).toFixed(0)} MB/s (median)`,
  });
  const workerRatios = partup.map((v, i) => v / onPage[i]);
  rows.push({
    id: '2 (workers)',
    title: `The same whole upload (${size / MIB} MiB, same rounds): parts hashed by the default hashing workers vs on the page's thread`,
    unit: 'MB/s',
    subjectLabel: 'partup, default hashWorkers (workers)',
    subject: partup,
    baselineLabel: 'partup, hashWorkers: 0 (page thread)',
    baseline: onPage,
    ratios: workerRatios,
    target: '≥ 1.0× (not slower)',
    holds: median(workerRatios) >= 1.0,
    detail: '',
  });
}

// Row 6: client memory, sampled every 100 ms during the upload (JS heap via CDP + wasm memory).
if (wanted('6')) {
  const small = 64 * MIB;
  const big = (quick ? 512 : 2048) * MIB;
  const peaks = {};
  for (const size of [small, big]) {
    const file = randomFile(args.work, `memory-${size}.bin`, size);
    await page.setInputFiles('#file', file);
    await cdp.send('HeapProfiler.collectGarbage');
    const start = (await cdp.send('Runtime.getHeapUsage')).usedSize + await page.evaluate(() => bench.wasmMemoryBytes());
    let peak = start;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const heap = (await cdp.send('Runtime.getHeapUsage')).usedSize;
        const wasm = await page.evaluate(() => bench.wasmMemoryBytes());
        peak = Math.max(peak, heap + wasm);
        await new Promise(r => setTimeout(r, 100));
      }
    })();
    const r = await page.evaluate(([p, c]) => bench.partupUpload('bench/memory.bin', p, c), [8 * MIB, 4]);
    sampling = false;
    await sampler;
    if (r.size !== size) throw new Error(`uploaded ${r.size} of ${size} bytes`);
    peaks[size] = { peak, start, mbps: mbps(size, r.ms) };
    log(`row 6, ${size / MIB} MiB: page memory peak ${(peak / MIB).toFixed(1)} MiB (start ${(start / MIB).toFixed(1)} MiB)`);
    fs.rmSync(file);
  }
  const growth = peaks[big].peak / peaks[small].peak;
  rows.push({
    id: '6',
    title: `Client memory: peak page memory (JS heap used + wasm memory) uploading ${big / MIB} MiB vs ${small / MIB} MiB`,
    unit: 'MiB',
    subjectLabel: `${big / MIB} MiB file`,
    subject: [peaks[big].peak / MIB],
    baselineLabel: `${small / MIB} MiB file`,
    baseline: [peaks[small].peak / MIB],
    ratios: [growth],
    target: 'grows < 2×',
    holds: growth < 2,
    detail: `upload speeds ${peaks[small].mbps.toFixed(0)} and ${peaks[big].mbps.toFixed(0)} MB/s`,
  });
  if (quick) notes.push('Quick mode: row 6 compares 512 MiB with 64 MiB (the full run uses 2 GiB).');
}

// Row 10: main-thread responsiveness during a whole upload, hashing in workers vs on the page's
// thread: the Long Tasks API's longest task and total blocking time, and the frame rate of a
// requestAnimationFrame animation on the page beside its idle frame rate.
if (wanted('10')) {
  const size = (quick ? 256 : 1024) * MIB;
  const rounds = quick ? 1 : 2;
  const file = randomFile(args.work, 'responsive.bin', size);
  await page.setInputFiles('#file', file);
  const idle = [], runs = { workers: [], page: [] };
  for (let round = 0; round < rounds; round++) {
    idle.push(await page.evaluate(() => bench.idleFrameRate(3000)));
    for (const which of round % 2 ? ['page', 'workers'] : ['workers', 'page']) {
      const workers = which === 'page' ? 0 : undefined;
      const r = await page.evaluate(([w]) => bench.responsiveness('bench/responsive.bin', 8 << 20, 4, w), [workers]);
      if (r.size !== size) throw new Error(`uploaded ${r.size} of ${size} bytes`);
      runs[which].push(r);
      log(`row 10, round ${round + 1}, ${which}: ${r.hashing}, longest task ${r.longestTaskMs.toFixed(0)} ms, ` +
          `${r.longTasks} long tasks, blocking ${r.totalBlockingMs.toFixed(0)} ms, ${r.framesPerSecond.toFixed(1)} fps ` +
          `(idle ${idle.at(-1).toFixed(1)}), ${mbps(size, r.ms).toFixed(0)} MB/s`);
    }
  }
  fs.rmSync(file);
  const of = (which, key) => runs[which].map(r => r[key]);
  const what = `during a whole upload of ${size / MIB} MiB (8 MiB parts, 4 at once) in headless Chromium`;
  rows.push({
    id: '10 (longest task)',
    title: `Longest main-thread task (Long Tasks API) ${what}`,
    unit: 'ms',
    subjectLabel: 'hashing in workers (default hashWorkers)',
    subject: of('workers', 'longestTaskMs'),
    baselineLabel: 'hashing on the page\'s thread (hashWorkers: 0)',
    baseline: of('page', 'longestTaskMs'),
    ratios: [],
    target: 'no task over 50 ms with workers',
    holds: Math.max(...of('workers', 'longestTaskMs')) <= 50,
    detail: `long tasks per upload: ${of('workers', 'longTasks').join(', ')} with workers, ${of('page', 'longTasks').join(', ')} on the page's thread`,
  });
  rows.push({
    id: '10 (blocking time)',
    title: `Total blocking time (each long task's time over 50 ms, summed) ${what}`,
    unit: 'ms',
    subjectLabel: 'hashing in workers',
    subject: of('workers', 'totalBlockingMs'),
    baselineLabel: 'hashing on the page\'s thread',
    baseline: of('page', 'totalBlockingMs'),
    ratios: [],
    target: 'reported',
    holds: true,
    detail: '',
  });
  for (const which of ['workers', 'page']) {
    const fps = of(which, 'framesPerSecond');
    const ratios = fps.map((v, i) => v / idle[i]);
    rows.push({
      id: which === 'workers' ? '10 (frame rate, workers)' : '10 (frame rate, page thread)',
      title: `Frame rate of a requestAnimationFrame animation on the page ${what}, hashing ${which === 'workers' ? 'in workers' : 'on the page\'s thread'}, vs the same page idle (before each round)`,
      unit: 'fps',
      subjectLabel: which === 'workers' ? 'during the upload, workers' : 'during the upload, page thread',
      subject: fps,
      baselineLabel: 'idle page',
      baseline: idle,
      ratios,
      target: which === 'workers' ? '≥ 0.9× idle' : 'reported',
      holds: median(ratios) >= 0.9,
      detail: '',
    });
  }
}

// Row 11: hashing throughput of a file's parts with 1, 2 and 4 workers of the uploader's pool vs
// the page's thread (what the uploader does with hashWorkers: 0), each worker one part at a time;
// and with the lanes of the SIMD128 build (up to 4 parts at once per worker, src/lane_hashing.rs)
// vs one lane per worker, with 1 and 2 workers. All modes on the same page, interleaved.
if (wanted('11')) {
  const size = (quick ? 256 : 1024) * MIB;
  const rounds = quick ? 2 : 3;
  const partSize = 8 * MIB;
  const file = randomFile(args.work, 'hash-parts.bin', size);
  await page.setInputFiles('#file', file);
  const buildLanes = await page.evaluate(() => bench.hashLanes());
  if (buildLanes < 2) throw new Error(`the page loaded the scalar build (${buildLanes} lane): no SIMD128 here?`);
  const modes = [[0, 1], [1, 1], [2, 1], [4, 1], [1, buildLanes], [2, buildLanes]];
  const name = ([workers, lanes]) => workers ? `${workers}×${lanes}` : 'page';
  const label = ([workers, lanes]) => workers ? `${workers} worker${workers > 1 ? 's' : ''} × ${lanes} lane${lanes > 1 ? 's' : ''}` : 'page thread';
  // `modes` in interleaved rounds over `bytes` of parts (the file, or the copy in memory): MB/s per
  // mode, every mode's part digests checked against the first's, every worker's lanes as asked.
  const hashRounds = async (modes, bytes, inMemory) => {
    const speeds = Object.fromEntries(modes.map(m => [name(m), []]));
    const where = inMemory ? ', parts in memory' : '';
    let expected = null;
    for (let round = 0; round < rounds; round++) {
      for (let k = 0; k < modes.length; k++) {
        const mode = modes[(k + round) % modes.length];
        const r = await page.evaluate(([w, p, l, m]) => bench.hashParts(w, p, l, m), [mode[0], partSize, mode[1], inMemory]);
        expected ??= r.digests;
        if (r.digests !== expected) throw new Error(`${label(mode)} gave other part digests${where}`);
        if (mode[0] && r.lanes !== mode[1]) throw new Error(`${label(mode)}: the workers hashed ${r.lanes} parts at once`);
        speeds[name(mode)].push(mbps(bytes, r.ms));
      }
      if (!inMemory) log(`row 11, round ${round + 1}: ` + modes.map(m => `${label(m)} ${speeds[name(m)].at(-1).toFixed(0)}`).join(', ') + ' MB/s');
      for (const workers of [1, 2].filter(w => name([w, buildLanes]) in speeds)) {
        const lanes = speeds[name([workers, buildLanes])].at(-1), one = speeds[name([workers, 1])].at(-1);
        log(`row 11, round ${round + 1}${where}: ${workers} worker${workers > 1 ? 's' : ''}, ${buildLanes} lanes vs 1: ${lanes.toFixed(0)} vs ${one.toFixed(0)} MB/s, ${(lanes / one).toFixed(2)}×`);
      }
    }
    return speeds;
  };
  await page.evaluate(([p]) => bench.hashParts(1, p), [partSize]); // warm-up: page cache, compilation
  await page.evaluate(([p, l]) => bench.hashParts(1, p, l), [partSize, buildLanes]);
  const speeds = await hashRounds(modes, size, false);
  // The same lanes vs one lane with the parts in memory: the hashing alone, without the reads from
  // disk (which the browser does on other threads, sharing the cores).
  const memorySize = Math.min(size, 256 * MIB);
  await page.evaluate(([bytes]) => bench.loadPartsInMemory(bytes), [memorySize]);
  const memorySpeeds = await hashRounds([[1, 1], [1, buildLanes]], memorySize, true);
  await page.evaluate(() => bench.dropPartsInMemory());
  fs.rmSync(file);
  const title = `MD5 of every 8 MiB part of a ${size / MIB} MiB file on disk (setInputFiles), in headless Chromium on ${os.cpus().length} cores`;
  for (const workers of [1, 2, 4]) {
    const subject = speeds[name([workers, 1])];
    rows.push({
      id: `11 (${workers} worker${workers > 1 ? 's' : ''})`,
      title,
      unit: 'MB/s',
      subjectLabel: `${workers} hashing worker${workers > 1 ? 's' : ''} (the uploader's pool), one part each at a time`,
      subject,
      baselineLabel: 'the page\'s thread, one part at a time',
      baseline: speeds.page,
      ratios: subject.map((v, i) => v / speeds.page[i]),
      target: 'reported',
      holds: true,
      detail: '',
    });
  }
  for (const workers of [1, 2]) {
    const subject = speeds[name([workers, buildLanes])];
    const baseline = speeds[name([workers, 1])];
    rows.push({
      id: `11 (${workers} worker${workers > 1 ? 's' : ''} × ${buildLanes} lanes)`,
      title,
      unit: 'MB/s',
      subjectLabel: `${label([workers, buildLanes])} (SIMD128 build: up to ${buildLanes} parts at once per worker)`,
      subject,
      baselineLabel: `${label([workers, 1])}, same build`,
      baseline,
      ratios: subject.map((v, i) => v / baseline[i]),
      target: 'reported',
      holds: true,
      detail: '',
    });
  }
  rows.push({
    id: `11 (in memory, 1 worker × ${buildLanes} lanes)`,
    title: `MD5 of every 8 MiB part of ${memorySize / MIB} MiB in a Blob in memory (no disk reads), in headless Chromium on ${os.cpus().length} cores`,
    unit: 'MB/s',
    subjectLabel: `${label([1, buildLanes])} (SIMD128 build)`,
    subject: memorySpeeds[name([1, buildLanes])],
    baselineLabel: `${label([1, 1])}, same build`,
    baseline: memorySpeeds[name([1, 1])],
    ratios: memorySpeeds[name([1, buildLanes])].map((v, i) => v / memorySpeeds[name([1, 1])][i]),
    target: 'reported',
    holds: true,
    detail: '',
  });
}

// Row 12: instant upload of a file the server already has (hashed in the default workers, then
// completed by uploadInit) vs the normal upload of the same file, same run, interleaved. The first
// round's normal upload stores the content every instant upload then finds.
if (wanted('12')) {
  const size = (quick ? 256 : 1024) * MIB;
  const rounds = quick ? 2 : 3;
  const file = randomFile(args.work, 'instant.bin', size);
  await page.setInputFiles('#file', file);
  const normal = [], instant = [];
  for (let round = 0; round < rounds; round++) {
    for (const which of round % 2 ? ['instant', 'normal'] : ['normal', 'instant']) {
      // One key per instant upload: each is a new object made from the stored content.
      const key = which === 'instant' ? `bench/instant-${round}.bin` : 'bench/instant-source.bin';
      const r = await page.evaluate(([k, i]) => bench.partupUpload(k, 8 << 20, 4, undefined, i), [key, which === 'instant']);
      if (r.size !== size) throw new Error(`uploaded ${r.size} of ${size} bytes`);
      if (r.instant !== (which === 'instant')) throw new Error(`${which} upload: instant ${r.instant}`);
      (which === 'instant' ? instant : normal).push(r.ms / 1000);
    }
    log(`row 12, round ${round + 1}: instant upload ${instant.at(-1).toFixed(2)} s, normal upload ${normal.at(-1).toFixed(2)} s`);
  }
  fs.rmSync(file);
  rows.push({
    id: '12',
    title: `Instant upload of a ${size / MIB} MiB file the server already has (setInputFiles; 8 MiB parts hashed by the default workers, then uploadInit completes it), from \`upload()\` to \`done\``,
    unit: 's',
    subjectLabel: 'instant: true (a hit: no part sent)',
    subject: instant,
    baselineLabel: 'the normal upload of the same file',
    baseline: normal,
    ratios: instant.map((v, i) => v / normal[i]),
    target: 'reported (time ÷ the normal upload\'s)',
    holds: true,
    detail: '',
  });
}

// Row 7: package size.
if (wanted('7')) {
  const { totalKb, detail } = packageSize(args.pkg);
  rows.push({
    id: '7',
    title: 'Size of the built client package (gzip -9)',
    unit: 'KB',
    subjectLabel: 'partup_bg.wasm + partup.js + snippets',
    subject: [totalKb],
    baselineLabel: null,
    baseline: [],
    ratios: [],
    target: '≤ 80 KB gzipped',
    holds: totalKb <= 80,
    detail,
  });
}

await browser.close();
fs.writeFileSync(args.out, JSON.stringify({ rows, notes, chromium: chromiumVersion }, null, 2));
