// The page side of the browser benchmarks. Every timing is taken here with performance.now() and
// handed back to bench/browser/run.mjs, which drives this page with playwright-core.
import init, { Uploader, md5OfBlob, hashLanes } from '../pkg/partup.js';
// The uploader's own hashing-worker pool: scripts/bench.sh writes this module, which re-exports it
// from the package's snippet (its directory name carries a hash).
import { WorkerPool } from './worker-pool.js';

const MIB = 1 << 20;
const wasm = await init();
// The build the glue chose (the SIMD128 one where the engine runs it, its workers hashing 4 parts at
// once): the uploader's workers get the page's module, so row 11's pool gets the same build.
const wasmModule = await WebAssembly.compileStreaming(fetch(hashLanes() > 1 ? '../pkg/partup_simd_bg.wasm' : '../pkg/partup_bg.wasm'));
const glueUrl = new URL('../pkg/partup.js', import.meta.url).href;
let memoryBlob = null; // the row-1 bytes, read once from the chosen file into an in-memory Blob
let memoryParts = null; // row 11's in-memory bytes

function chosenFile() {
  return document.getElementById('file').files[0];
}

/** Reads `blob` through Blob.stream(), handing each chunk to `update` (the read path partup uses). */
async function streamChunks(blob, update) {
  const reader = blob.stream().getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return;
    update(value);
  }
}

const hashers = {
  // partup's own path: Blob.stream() → md-5 in wasm (the exported md5OfBlob).
  partup: blob => md5OfBlob(blob),
  'hash-wasm': async blob => {
    const md5 = await hashwasm.createMD5();
    md5.init();
    await streamChunks(blob, chunk => md5.update(chunk));
    return md5.digest('hex');
  },
  'spark-md5': async blob => {
    const spark = new SparkMD5.ArrayBuffer();
    // SparkMD5.ArrayBuffer.append takes an ArrayBuffer; a chunk may be a view into a larger one.
    await streamChunks(blob, chunk => spark.append(
      chunk.byteOffset === 0 && chunk.byteLength === chunk.buffer.byteLength
        ? chunk.buffer : chunk.slice().buffer));
    return spark.end();
  },
};

window.bench = {
  /** Parts one hashing worker of the loaded build hashes at once (4: the SIMD128 build). */
  hashLanes() {
    return hashLanes();
  },

  /** Row 1: copies the chosen file into an in-memory Blob once, so hashing measures hashing. */
  async loadHashInput() {
    memoryBlob = new Blob([await chosenFile().arrayBuffer()]);
    return memoryBlob.size;
  },
  async hash(name) {
    const started = performance.now();
    const hex = await hashers[name](memoryBlob);
    return { ms: performance.now() - started, hex };
  },
  dropHashInput() {
    memoryBlob = null;
  },

  /** Row 2/6/10/12/13: the whole upload of the chosen file through partup's wasm client
   * (`hashWorkers` undefined: the default), from `upload()` to `done`; row 12 with `instant`; row
   * 13 against an instance with `--direct-parts` too (the result says `direct`). */
  async partupUpload(resourceKey, partSize, concurrency, hashWorkers, instant = false) {
    const uploader = new Uploader({ endpoint: '/v1/multipart/parallel', partSize, concurrency, resume: false, hashWorkers });
    let hashing = null;
    const started = performance.now();
    const upload = uploader.upload(chosenFile(), { resourceKey, instant, onInit: info => { hashing = info.hashing; } });
    const result = await upload.done;
    const ms = performance.now() - started;
    uploader.free();
    return { ms, size: result.size, etag: result.etag, hashing, instant: result.instant, direct: result.direct };
  },

  /** Row 11: MD5 of every part of the chosen file, as the uploader hashes them: `workers` workers
   * of its own pool (js/hash_pool.js, parts queued in order, up to `lanes` per worker at a time,
   * at most what the build loaded hashes at once: `hashLanes()`), or 0: the page's thread, one part
   * after another. Worker start-up is not timed. */
  async hashParts(workers, partSize, lanes = 1, inMemory = false) {
    const file = inMemory ? memoryParts : chosenFile();
    const slices = Array.from({ length: Math.max(1, Math.ceil(file.size / partSize)) },
      (_, i) => file.slice(i * partSize, Math.min(file.size, (i + 1) * partSize)));
    const pool = workers > 0 ? new WorkerPool(workers, lanes, wasmModule, glueUrl) : null;
    const why = pool && await pool.start();
    if (why) throw new Error(`the hashing workers did not start: ${why}`);
    const signal = new AbortController().signal;
    const started = performance.now();
    let digests;
    if (pool) {
      digests = await Promise.all(slices.map(slice => pool.hash(slice, signal)));
    } else {
      digests = [];
      for (const slice of slices) digests.push(await md5OfBlob(slice));
    }
    const ms = performance.now() - started;
    const lanesUsed = pool ? Math.min(...pool.workers.map(worker => worker.lanes)) : 0;
    pool?.stop();
    const hex = digests.map(d => typeof d === 'string' ? d : Array.from(d, b => b.toString(16).padStart(2, '0')).join(''));
    return { ms, digests: hex.join(''), lanes: lanesUsed };
  },

  /** Row 11, in memory: the first `bytes` of the chosen file copied into a Blob in memory, so
   * hashing its parts measures the hashing and not the reads from disk. */
  async loadPartsInMemory(bytes) {
    memoryParts = new Blob([await chosenFile().slice(0, bytes).arrayBuffer()]);
    return memoryParts.size;
  },
  dropPartsInMemory() {
    memoryParts = null;
  },

  /** Row 10: the page's own frame rate for `ms` with nothing else running. */
  async idleFrameRate(ms) {
    const animation = animate();
    await new Promise(resolve => setTimeout(resolve, ms));
    return animation.stop().framesPerSecond;
  },

  /** Row 10: main-thread responsiveness while the chosen file uploads: the Long Tasks API's tasks
   * (the longest, and the total blocking time: the sum of each task's time over 50 ms) and the
   * frame rate of a requestAnimationFrame animation on the page. */
  async responsiveness(resourceKey, partSize, concurrency, hashWorkers) {
    const tasks = [];
    const observer = new PerformanceObserver(list => tasks.push(...list.getEntries().map(e => e.duration)));
    observer.observe({ type: 'longtask' });
    const animation = animate();
    const upload = await bench.partupUpload(resourceKey, partSize, concurrency, hashWorkers);
    const { framesPerSecond } = animation.stop();
    tasks.push(...observer.takeRecords().map(e => e.duration));
    observer.disconnect();
    return {
      ...upload,
      framesPerSecond,
      longTasks: tasks.length,
      longestTaskMs: Math.max(0, ...tasks),
      totalBlockingMs: tasks.reduce((sum, d) => sum + Math.max(0, d - 50), 0),
    };
  },

  /** Row 2: the browser's raw ceiling — Blob slices sent by plain fetch to a discarding sink. */
  async rawUpload(sinkUrl, partSize, concurrency) {
    const file = chosenFile();
    const count = Math.max(1, Math.ceil(file.size / partSize));
    let next = 0;
    let received = 0;
    const started = performance.now();
    async function worker() {
      while (next < count) {
        const index = next++;
        const body = file.slice(index * partSize, Math.min(file.size, (index + 1) * partSize));
        const response = await fetch(sinkUrl, { method: 'POST', body });
        const { size } = await response.json();
        received += size;
      }
    }
    await Promise.all(Array.from({ length: concurrency }, worker));
    const ms = performance.now() - started;
    if (received !== file.size) throw new Error(`the sink got ${received} of ${file.size} bytes`);
    return { ms, size: file.size };
  },

  /** Row 6: the wasm module's linear memory, in bytes (JS heap comes from CDP). */
  wasmMemoryBytes() {
    return wasm.memory.buffer.byteLength;
  },
};
/** Moves the page's box every animation frame until stopped; counts the frames. */
function animate() {
  const box = document.getElementById('box');
  let frames = 0;
  let running = true;
  const started = performance.now();
  const frame = now => {
    if (!running) return;
    frames += 1;
    box.style.transform = `translateX(${(now / 4) % 300}px)`;
    requestAnimationFrame(frame);
  };
  requestAnimationFrame(frame);
  return {
    stop() {
      running = false;
      return { framesPerSecond: frames / ((performance.now() - started) / 1000) };
    },
  };
}

window.benchReady = true;
