// partup's hashing workers (see src/hash_pool.rs): `WorkerPool` runs them for the page, and this
// same file, started as a module Worker, is the worker (at the end).

const WORKER_NAME = 'partup-hash';
const START_TIMEOUT_MS = 10000;

class HashWorker {
  constructor() {
    this.scriptRan = false; // the worker said 'alive': its script loaded and runs
    // Literally this form: the one Vite and webpack 5 recognise to bundle a worker.
    this.worker = new Worker(new URL('./hash_pool.js', import.meta.url), { type: 'module', name: WORKER_NAME });
    this.waiting = null; // { resolve, reject } of `start` or of the part being hashed
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
    this.worker.postMessage({ partup: 'start', module, glueUrl });
    return started;
  }

  // The MD5 (16 bytes), why the blob is unreadable (a string), or null when cancelled; rejects when
  // the worker is gone.
  hash(blob) {
    const answered = this.settle();
    this.worker.postMessage({ partup: 'hash', id: ++this.lastId, blob });
    return answered;
  }

  cancel() {
    this.worker.postMessage({ partup: 'cancel', id: this.lastId });
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
    const waiting = this.waiting;
    if (!waiting || typeof data?.partup !== 'string') return;
    this.waiting = null;
    switch (data.partup) {
      case 'ready': waiting.resolve(); break;
      case 'failed': this.lose(`the hashing worker did not start: ${data.message}`, waiting); break;
      case 'hashed': waiting.resolve(Uint8Array.from(data.md5.match(/../g), hex => parseInt(hex, 16))); break;
      case 'unreadable': waiting.resolve(data.message); break;
      default: waiting.resolve(null);
    }
  }

  lose(why, waiting = this.waiting) {
    this.gone ??= why;
    this.waiting = null;
    waiting?.reject(new Error(this.gone));
  }
}

export class WorkerPool {
  constructor(size, module, glueUrl) {
    Object.assign(this, { size, module, glueUrl });
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
      workers = Array.from({ length: this.size }, () => new HashWorker());
    } catch (error) {
      return this.giveUp(`a module Worker could not be created: ${error}`);
    }
    this.workers = workers;
    this.idle = [...workers];
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
      const second = new HashWorker();
      workers[index] = second;
      this.idle = this.idle.map(worker => (worker === first ? second : worker));
      return await second.start(this.module, this.glueUrl);
    }
  }

  // The MD5 of `blob` from a worker, why it is unreadable, or null when no worker can hash it (or
  // `signal` aborted: the worker is told to stop its read).
  async hash(blob, signal) {
    if (await this.start()) return null;
    const worker = this.idle.shift() ?? await new Promise(take => {
      this.queue.push(take);
      signal.addEventListener('abort', () => {
        this.queue = this.queue.filter(waiting => waiting !== take);
        take(null);
      });
    });
    if (!worker || signal.aborted) return worker && this.release(worker, null);
    const stop = () => worker.cancel();
    signal.addEventListener('abort', stop);
    try {
      // A worker stays busy until it answered, also when told to stop.
      return this.release(worker, await worker.hash(blob));
    } catch (error) {
      if (this.workers.includes(worker)) this.giveUp(error.message);
      return null;
    } finally {
      signal.removeEventListener('abort', stop);
    }
  }

  release(worker, answer) {
    if (this.workers.includes(worker)) {
      const next = this.queue.shift();
      next ? next(worker) : this.idle.push(worker);
    }
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
    Object.assign(this, { workers: [], idle: [], queue: [], started: null, fallback: null });
  }
}

// The worker. It gets the page's compiled module (no second fetch or compile) and hashes one Blob
// slice per message with md5OfBlob. The glue is `../../../partup.js` from `snippets/partup-HASH/js/`,
// written literally so bundlers bundle it, imported only here (statically, the page would import it
// twice); where it has another name (wasm-bindgen-test's runner), the page's URL for it is next.
let hashBlob = null;
let running = null; // { id, controller } of the part being hashed

async function loadGlue(glueUrl) {
  try {
    return await import('../../../partup.js');
  } catch (packaged) {
    if (!glueUrl) throw packaged;
    return await import(/* @vite-ignore */ /* webpackIgnore: true */ glueUrl);
  }
}

async function startWorker({ module, glueUrl }) {
  try {
    const glue = await loadGlue(glueUrl);
    await glue.default({ module_or_path: module });
    hashBlob = glue.md5OfBlob;
    postMessage({ partup: 'ready' });
  } catch (error) {
    postMessage({ partup: 'failed', message: String(error) });
  }
}

async function hashInWorker({ id, blob }) {
  const controller = new AbortController();
  running = { id, controller };
  let answer;
  try {
    answer = { partup: 'hashed', md5: await hashBlob(blob, { signal: controller.signal }) };
  } catch (error) {
    answer = controller.signal.aborted
      ? { partup: 'cancelled' }
      : { partup: 'unreadable', message: error?.description ?? String(error) };
  }
  running = null;
  postMessage(answer);
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
      case 'cancel': if (running?.id === data.id) running.controller.abort(); break;
    }
  });
  // Before the glue and the wasm module load: a worker that does not start says how far it got.
  postMessage({ partup: 'alive' });
}
