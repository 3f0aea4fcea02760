// Rows 8 and 9 of BENCHMARKS.md: the client's MD5 path and a whole upload in each browser engine
// (Chromium, Firefox ESR, WebKitGTK), driven over W3C WebDriver in the same run, rounds interleaved
// with the engine order rotating, on the same page (bench/browser/) as rows 1 and 2.
//
//   node bench/browser/engines.mjs --page URL --sink URL --work DIR --out FILE [--quick]
//        --engine 'NAME|DRIVER_URL|CAPABILITIES_JSON' (once per engine; chromium first)
import fs from 'node:fs';
import { log, mbps, median, randomFile } from './measure.mjs';
import { Session } from './webdriver.mjs';

const MIB = 1 << 20;
const argv = process.argv.slice(2);
const option = name => argv[argv.indexOf(`--${name}`) + 1];
const quick = argv.includes('--quick');
const engines = argv.flatMap((arg, i) => (argv[i - 1] === '--engine' ? [arg.split('|')] : []))
  .map(([name, driver, capabilities]) => ({ name, driver, capabilities: JSON.parse(capabilities) }));

const hashSize = 64 * MIB;
const uploadSize = 256 * MIB;
const rounds = quick ? 2 : 3;
const hashFile = randomFile(option('work'), 'engines-hash.bin', hashSize);
const uploadFile = randomFile(option('work'), 'engines-upload.bin', uploadSize);
const results = {};
for (const engine of engines) {
  engine.session = await Session.start(engine.driver, engine.capabilities);
  await engine.session.open(option('page'), 600_000);
  await engine.session.run(() => new Promise(ready => {
    const wait = () => (window.benchReady ? ready() : setTimeout(wait, 20));
    wait();
  }));
  results[engine.name] = { browser: engine.session.browser, partupMd5: [], hashWasm: [], partupUpload: [], raw: [] };
  log(`engine ${engine.name}: ${engine.session.browser}`);
}

try {
  let expectedMd5 = null;
  for (let round = 0; round < rounds; round++) {
    for (let k = 0; k < engines.length; k++) {
      const engine = engines[(k + round) % engines.length];
      const { session } = engine;
      const r = results[engine.name];
      await session.chooseFile('#file', hashFile);
      await session.run(() => bench.loadHashInput());
      if (round === 0) for (const name of ['partup', 'hash-wasm']) await session.run(n => bench.hash(n), name);
      for (const [name, into] of [['partup', r.partupMd5], ['hash-wasm', r.hashWasm]]) {
        const { ms, hex } = await session.run(n => bench.hash(n), name);
        expectedMd5 ??= hex;
        if (hex !== expectedMd5) throw new Error(`${engine.name} ${name} gave ${hex}, expected ${expectedMd5}`);
        into.push(mbps(hashSize, ms));
      }
      await session.run(() => bench.dropHashInput());

      await session.chooseFile('#file', uploadFile);
      const key = `bench/engines/${engine.name}-${round}.bin`;
      const order = round % 2 ? ['raw', 'partup'] : ['partup', 'raw'];
      for (const which of order) {
        if (which === 'partup') {
          const u = await session.run((k, p, c) => bench.partupUpload(k, p, c), key, 8 * MIB, 4);
          if (u.size !== uploadSize) throw new Error(`${engine.name} uploaded ${u.size} of ${uploadSize} bytes`);
          r.partupUpload.push(mbps(uploadSize, u.ms));
        } else {
          const u = await session.run((s, p, c) => bench.rawUpload(s, p, c), option('sink'), 8 * MIB, 4);
          r.raw.push(mbps(uploadSize, u.ms));
        }
      }
      log(`engines, round ${round + 1}, ${engine.name}: MD5 partup ${r.partupMd5.at(-1).toFixed(0)} / hash-wasm ` +
        `${r.hashWasm.at(-1).toFixed(0)} MB/s; upload partup ${r.partupUpload.at(-1).toFixed(0)} / raw fetch ` +
        `${r.raw.at(-1).toFixed(0)} MB/s`);
    }
  }
} finally {
  for (const engine of engines) await engine.session.close();
  fs.rmSync(hashFile, { force: true });
  fs.rmSync(uploadFile, { force: true });
}

const chromium = results.chromium;
const rows = [];
for (const engine of engines) {
  const r = results[engine.name];
  const besideChromium = (mine, theirs) => engine.name === 'chromium' ? ''
    : `; ${(median(mine) / median(theirs)).toFixed(2)}× Chromium's ${median(theirs).toFixed(0)} MB/s`;
  rows.push({
    id: `8 (${engine.name})`,
    title: `MD5 of 64 MiB in ${r.browser} (WebDriver): Blob.stream() → hasher${besideChromium(r.partupMd5, chromium.partupMd5)}`,
    unit: 'MB/s',
    subjectLabel: 'partup md5OfBlob (md-5 in wasm)',
    subject: r.partupMd5,
    baselineLabel: 'npm hash-wasm, same read path, same page',
    baseline: r.hashWasm,
    ratios: r.partupMd5.map((v, i) => v / r.hashWasm[i]),
    target: 'reported',
    holds: true,
    detail: '',
  });
  rows.push({
    id: `9 (${engine.name})`,
    title: `Whole upload of a 256 MiB file from disk in ${r.browser} (WebDriver), 8 MiB parts, 4 at once${besideChromium(r.partupUpload, chromium.partupUpload)}`,
    unit: 'MB/s',
    subjectLabel: 'partup wasm client → partup-server (fs store)',
    subject: r.partupUpload,
    baselineLabel: 'plain fetch of Blob slices → discarding sink, same page',
    baseline: r.raw,
    ratios: r.partupUpload.map((v, i) => v / r.raw[i]),
    target: 'reported',
    holds: true,
    detail: '',
  });
}
const browsers = Object.fromEntries(engines.map(e => [e.name, results[e.name].browser]));
fs.writeFileSync(option('out'), JSON.stringify({ rows, notes: [], browsers }, null, 2));
