// partup's hashing workers (see src/hash_pool.rs): `WorkerPool` runs them for the page, and this
// same file, started as a module Worker, is the worker (at the end).

const WORKER_NAME = 'partup-hash';
const START_TIMEOUT_MS = 10000;

class HashWorker {
  constructor(lanes) {
    this.scriptRan = false; // the worker said 'alive': its script loaded and runs
    this.lanes = lanes; // parts it hashes at once: as asked, or fewer if its build has fewer lanes
    this.busy = 0; // parts the pool gave it that it did not answer yet
    this.parts = new Map(); // id → { resolve, reject } of each part it was given and did not answer
    // Literally this form: the one Vite and webpack 5 recognise to bundle a worker.
    this.worker = new Worker(new URL('./hash_pool.js', import.meta.url), { type: 'module', name: WORKER_NAME });
    this.waiting = null; // { resolve, reject } of `start`
    this.gone = null; // why the worker cannot be used any more
    this.lastId = 0;
    this.worker.onmessage = ({ data }) => this.answer(data);
    this.worker.onerror = event => {
      event.preventDefault();
      this.lose(`the hashing worker failed: ${event.message || 'it could not be loaded (refused by a Content-Security-Policy without worker-src for it, or no module workers)'}`);
    };
    this.worker.onmessageerror = () => this.lose('the hashing worker could not read a message');
  }

  // Resolves once the worker runs the wasm module. A worker that does not answer in time is lost
  // with `timedOut` set, and says how far it got.
  start(module, glueUrl) {
    const started = this.settle();
    const timer = setTimeout(() => {
      this.timedOut = true;
      this.lose(this.scriptRan
        ? `the hashing worker loaded but did not start its wasm module within ${START_TIMEOUT_MS} ms`
        : `the hashing worker did not load its script within ${START_TIMEOUT_MS} ms`);
    }, START_TIMEOUT_MS);
    started.then(() => clearTimeout(timer), () => clearTimeout(timer));
    this.worker.postMessage({ partup: 'start', module, glueUrl, lanes: this.lanes });
    return started;
  }

  // { id, answered }: `answered` resolves with the MD5 (16 bytes), why the blob is unreadable (a
  // string), or null when cancelled; rejects when the worker is gone.
  hash(blob) {
    const id = ++this.lastId;
    const answered = this.gone
      ? Promise.reject(new Error(this.gone))
      : new Promise((resolve, reject) => this.parts.set(id, { resolve, reject }));
    this.worker.postMessage({ partup: 'hash', id, blob });
    return { id, answered };
  }

  cancel(id) {
    if (this.parts.has(id)) this.worker.postMessage({ partup: 'cancel', id });
  }

  terminate() {
    this.worker.terminate();
    this.lose('the hashing worker was terminated');
  }

  settle() {
    if (this.gone) return Promise.reject(new Error(this.gone));
    return new Promise((resolve, reject) => { this.waiting = { resolve, reject }; });
  }

  answer(data) {
    if (data?.partup === 'alive') {
      this.scriptRan = true;
      return;
    }
    if (typeof data?.partup !== 'string') return;
    if (data.partup === 'ready' || data.partup === 'failed') {
      const waiting = this.waiting;
      this.waiting = null;
      if (data.partup === 'failed') this.lose(`the hashing worker did not start: ${data.message}`, waiting);
      else {
        this.lanes = Math.max(1, Math.min(this.lanes, data.lanes ?? 1));
        waiting?.resolve();
      }
      return;
    }
    const part = this.parts.get(data.id);
    if (!part) return;
    this.parts.delete(data.id);
    switch (data.partup) {
      case 'hashed': part.resolve(Uint8Array.from(data.md5.match(/../g), hex => parseInt(hex, 16))); break;
      case 'unreadable': part.resolve(data.message); break;
      default: part.resolve(null);
    }
  }

  lose(why, waiting = this.waiting) {
    this.gone ??= why;
    this.waiting = null;
    waiting?.reject(new Error(this.gone));
    for (const part of this.parts.values()) part.reject(new Error(this.gone));
    this.parts.clear();
  }
}

export class WorkerPool {
  // `size` workers, each given up to `lanes` parts at once (at most what its build hashes at once).
  constructor(size, lanes, module, glueUrl) {
    Object.assign(this, { size, lanes, module, glueUrl });
    this.stop();
  }

  // Starts the workers unless they run, are starting or could not start. Resolves with null once
  // they run, or with why they cannot be used (until `stop()`).
  start() {
    this.started ??= this.spawn();
    return this.started;
  }

  async spawn() {
    let workers;
    try {
      workers = Array.from({ length: this.size }, () => new HashWorker(this.lanes));
    } catch (error) {
      return this.giveUp(`a module Worker could not be created: ${error}`);
    }
    this.workers = workers;
    try {
      await Promise.all(workers.map((_, index) => this.startOne(workers, index)));
    } catch (error) {
      if (this.workers === workers) return this.giveUp(error.message);
    }
    return this.workers === workers ? null : 'the hashing workers were stopped while starting';
  }

  // Starts workers[index]; one that does not answer in time is replaced by a new one, once. WebKit
  // has been seen, rarely and only while other workers were being torn down, to leave a new module
  // worker silent for over 10 s; a worker that fails outright (CSP, no module workers) is not
  // tried again.
  async startOne(workers, index) {
    const first = workers[index];
    try {
      return await first.start(this.module, this.glueUrl);
    } catch (error) {
      if (!first.timedOut || this.workers !== workers) throw error;
      console.warn(`partup: ${error.message}; starting another in its place`);
      first.terminate();
      const second = new HashWorker(this.lanes);
      workers[index] = second;
      return await second.start(this.module, this.glueUrl);
    }
  }

  // The MD5 of `blob` from a worker, why it is unreadable, or null when no worker can hash it (or
  // `signal` aborted: the worker is told to stop its read).
  async hash(blob, signal) {
    if (await this.start()) return null;
    const worker = this.take() ?? await new Promise(take => {
      this.queue.push(take);
      signal.addEventListener('abort', () => {
        this.queue = this.queue.filter(waiting => waiting !== take);
        take(null);
      });
    });
    if (!worker || signal.aborted) return worker && this.release(worker, null);
    const { id, answered } = worker.hash(blob);
    const stop = () => worker.cancel(id);
    signal.addEventListener('abort', stop);
    try {
      // A part keeps its lane until its worker answered, also when told to stop.
      return this.release(worker, await answered);
    } catch (error) {
      if (this.workers.includes(worker)) this.giveUp(error.message);
      return null;
    } finally {
      signal.removeEventListener('abort', stop);
    }
  }

  // A free lane: of the worker hashing the fewest parts (two workers are two cores, the lanes of
  // one share its core), the first such in order; null when every lane is taken.
  take() {
    let best = null;
    for (const worker of this.workers) {
      if (worker.busy < worker.lanes && (!best || worker.busy < best.busy)) best = worker;
    }
    if (best) best.busy += 1;
    return best;
  }

  // Frees the worker's lane for the part waiting longest, if any.
  release(worker, answer) {
    worker.busy -= 1;
    if (this.workers.includes(worker) && this.queue.length > 0) this.queue.shift()(this.take());
    return answer;
  }

  giveUp(why) {
    console.warn(`partup: parts are hashed on the page's thread: ${why}`);
    this.stop();
    this.fallback = why;
    this.started = Promise.resolve(why);
    return why;
  }

  // Terminates the workers; parts waiting for one are hashed on the page's thread.
  stop() {
    for (const worker of this.workers ?? []) worker.terminate();
    for (const take of this.queue ?? []) take(null);
    Object.assign(this, { workers: [], queue: [], started: null, fallback: null });
  }
}

// The worker. It gets the page's compiled module (no second fetch or compile: the same build, SIMD
// or scalar, as the page's) and hashes each Blob slice posted to it with its LaneHasher, up to its
// lanes at once. The glue is `../../../partup.js` from `snippets/partup-HASH/js/`, written literally
// so bundlers bundle it, imported only here (statically, the page would import it twice); where it
// has another name (wasm-bindgen-test's runner), the page's URL for it is next.
let hasher = null;
const stopping = new Set(); // ids of the parts told to stop

async function loadGlue(glueUrl) {
  try {
    return await import('../../../partup.js');
  } catch (packaged) {
    if (!glueUrl) throw packaged;
    return await import(/* @vite-ignore */ /* webpackIgnore: true */ glueUrl);
  }
}

async function startWorker({ module, glueUrl, lanes }) {
  try {
    const glue = await loadGlue(glueUrl);
    await glue.default({ module_or_path: module });
    hasher = new glue.LaneHasher();
    postMessage({ partup: 'ready', lanes: Math.min(lanes ?? 1, glue.hashLanes()) });
  } catch (error) {
    postMessage({ partup: 'failed', message: String(error) });
  }
}

async function hashInWorker({ id, blob }) {
  let answer;
  try {
    answer = { partup: 'hashed', id, md5: await hasher.hash(id, blob) };
  } catch (error) {
    answer = stopping.has(id)
      ? { partup: 'cancelled', id }
      : { partup: 'unreadable', id, message: error?.description ?? String(error) };
  }
  stopping.delete(id);
  postMessage(answer);
}

function stopPart(id) {
  if (hasher?.hashedBytes(id) === undefined) return; // answered already
  stopping.add(id);
  hasher.cancel(id);
}

// Resolves in a new task (LaneHasher gives the worker's event loop a turn between rounds this way:
// a MessageChannel message is not clamped as nested timers are).
export function nextTask() {
  return new Promise(resolve => {
    const { port1, port2 } = new MessageChannel();
    port1.onmessage = () => {
      port1.close();
      resolve();
    };
    port2.postMessage(null);
  });
}

// Once per worker: WebKit evaluates this file again when the glue imports it (its module map keeps
// a worker's entry apart), and that copy has no glue of its own.
if (typeof WorkerGlobalScope === 'function' && self instanceof WorkerGlobalScope && self.name === WORKER_NAME
    && !self.partupHashWorker) {
  self.partupHashWorker = true;
  self.addEventListener('message', ({ data }) => {
    switch (data?.partup) {
      case 'start': startWorker(data); break;
      case 'hash': hashInWorker(data); break;
      case 'cancel': stopPart(data.id); break;
    }
  });
  // Before the glue and the wasm module load: a worker that does not start says how far it got.
  postMessage({ partup: 'alive' });
}
