// Row 13 of BENCHMARKS.md: the same browser upload of a real random file through a partup instance
// over S3 (every part's bytes pass through the instance into the bucket) and direct to the store
// (`--direct-parts`: the instance only signs, the browser PUTs each part into the bucket), in
// headless Chromium, rounds interleaved with the order alternating. For each: MB/s, the instance's
// CPU seconds (utime + stime from /proc/PID/stat, before and after the upload) and the part bytes
// it received (`partup_received_bytes_total` of its metrics listener).
//
//   node bench/browser/direct.mjs --through URL --through-pid PID --through-metrics URL \
//        --direct URL --direct-pid PID --direct-metrics URL --work DIR --out FILE [--quick]
import { chromium } from 'playwright-core';
import fs from 'node:fs';
import { execSync } from 'node:child_process';
import { log, mbps, randomFile } from './measure.mjs';

const MIB = 1 << 20;
const args = Object.fromEntries(process.argv.slice(2).reduce((acc, arg, i, all) => {
  if (arg.startsWith('--')) acc.push([arg.slice(2), all[i + 1]?.startsWith('--') || all[i + 1] === undefined ? true : all[i + 1]]);
  return acc;
}, []));
const quick = args.quick === true;
const ticksPerSecond = Number(execSync('getconf CLK_TCK').toString().trim());

/** CPU seconds the process has used so far (user + system). */
function cpuSeconds(pid) {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may hold spaces), from its closing parenthesis on.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / ticksPerSecond;
}

/** The part bytes the instance received so far. */
async function receivedBytes(metricsUrl) {
  const text = await (await fetch(`${metricsUrl}/metrics`)).text();
  const line = text.split('\n').find(l => l.startsWith('partup_received_bytes_total'));
  return line ? Number(line.split(' ').at(-1)) : 0;
}

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking'],
});
const ways = {
  through: { url: args.through, pid: args['through-pid'], metrics: args['through-metrics'] },
  direct: { url: args.direct, pid: args['direct-pid'], metrics: args['direct-metrics'] },
};
for (const way of Object.values(ways)) {
  way.page = await browser.newPage();
  way.page.on('pageerror', e => log(`page error: ${e.message}`));
  await way.page.goto(`${way.url}/bench/`);
  await way.page.waitForFunction(() => window.benchReady === true);
  Object.assign(way, { speeds: [], cpu: [], received: [] });
}

const size = (quick ? 256 : 1024) * MIB;
const rounds = quick ? 2 : 3;
const file = randomFile(args.work, 'direct.bin', size);
for (const way of Object.values(ways)) await way.page.setInputFiles('#file', file);
for (let round = 0; round < rounds; round++) {
  for (const name of round % 2 ? ['direct', 'through'] : ['through', 'direct']) {
    const way = ways[name];
    const [cpuBefore, bytesBefore] = [cpuSeconds(way.pid), await receivedBytes(way.metrics)];
    const r = await way.page.evaluate(k => bench.partupUpload(k, 8 << 20, 4), `bench/direct-${name}-${round}.bin`);
    if (r.size !== size) throw new Error(`${name}: uploaded ${r.size} of ${size} bytes`);
    if (r.direct !== (name === 'direct')) throw new Error(`${name} upload: direct ${r.direct}`);
    way.speeds.push(mbps(size, r.ms));
    way.cpu.push(cpuSeconds(way.pid) - cpuBefore);
    way.received.push((await receivedBytes(way.metrics)) - bytesBefore);
  }
  log(`row 13, round ${round + 1}: ` + Object.entries(ways).map(([n, w]) =>
    `${n} ${w.speeds.at(-1).toFixed(0)} MB/s, instance ${w.cpu.at(-1).toFixed(2)} CPU s, ${(w.received.at(-1) / 1e6).toFixed(1)} MB received`).join('; '));
}
fs.rmSync(file);
await browser.close();

const { direct, through } = ways;
const median = values => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const rows = [
  {
    id: '13',
    title: `Browser upload of ${size / MIB} MiB to the S3 store (Garage, headless Chromium, 8 MiB parts, 4 at once): direct to the store (\`--direct-parts\`) vs through the partup instance`,
    unit: 'MB/s',
    subjectLabel: 'direct',
    subject: direct.speeds,
    baselineLabel: 'through the instance',
    baseline: through.speeds,
    ratios: direct.speeds.map((v, i) => v / through.speeds[i]),
    target: 'reported (throughput ÷ through the instance)',
    holds: true,
    detail: '',
  },
  {
    id: '13.1',
    title: 'The instance\'s CPU seconds for that upload (utime + stime)',
    unit: 'CPU s',
    subjectLabel: 'direct',
    subject: direct.cpu,
    baselineLabel: 'through the instance',
    baseline: through.cpu,
    // Higher is better everywhere in the table: the baseline's CPU ÷ direct's.
    ratios: direct.cpu.map((v, i) => through.cpu[i] / Math.max(v, 0.01)),
    target: 'reported (instance CPU through ÷ direct)',
    holds: true,
    detail: `part bytes the instance received: direct ${(median(direct.received) / 1e6).toFixed(1)} MB, through ${(median(through.received) / 1e6).toFixed(1)} MB`,
  },
];
fs.writeFileSync(args.out, JSON.stringify({ rows, notes: [] }, null, 2));
