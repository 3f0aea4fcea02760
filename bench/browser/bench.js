// The page side of the browser benchmarks. Every timing is taken here with performance.now() and
// handed back to bench/browser/run.mjs, which drives this page with playwright-core.
import init, { Uploader, md5OfBlob } from '../pkg/partup.js';

const MIB = 1 << 20;
const wasm = await init();
let memoryBlob = null; // the row-1 bytes, read once from the chosen file into an in-memory Blob

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

  /** Row 2/6: the whole upload of the chosen file through partup's wasm client. */
  async partupUpload(resourceKey, partSize, concurrency) {
    const uploader = new Uploader({ endpoint: '/v1/multipart/parallel', partSize, concurrency, resume: false });
    const started = performance.now();
    const result = await uploader.upload(chosenFile(), { resourceKey }).done;
    const ms = performance.now() - started;
    uploader.free();
    return { ms, size: result.size, etag: result.etag };
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
window.benchReady = true;
