// The app both bundler tests build (tests/bundler/*/): it imports partup as an app from npm would,
// uploads a file of a few parts with hashing workers, reads the object back and reports a verdict
// in window.bundleResult for scripts/test-bundlers.sh.
import init, { Uploader } from 'partup';

const MIB = 1024 * 1024;

// Counts the workers the bundle starts and the digests they answer, to show that the parts really
// were hashed in workers the bundler carried over (not only that onInit said so).
const workersSeen = { started: 0, hashed: 0 };
const PageWorker = globalThis.Worker;
globalThis.Worker = class extends PageWorker {
  constructor(...args) {
    super(...args);
    workersSeen.started += 1;
    this.addEventListener('message', ({ data }) => { if (data?.partup === 'hashed') workersSeen.hashed += 1; });
  }
};

function fileOf(size) {
  const bytes = new Uint8Array(size);
  for (let i = 0; i < size; i++) bytes[i] = (i * 131 + (i >> 13)) & 255;
  return { bytes, file: new File([bytes], 'bundled.bin') };
}

async function upload(uploader, size) {
  const { bytes, file } = fileOf(size);
  const key = `bundler/${Date.now()}-${size}/bundled.bin`;
  let initInfo = null;
  const result = await uploader.upload(file, { resourceKey: key, onInit: info => { initInfo = info; } }).done;
  const stored = new Uint8Array(await (await fetch(`/v1/objects/${key}`)).arrayBuffer());
  const same = stored.length === size && stored.every((b, i) => b === bytes[i]);
  return { size, parts: result.parts, etag: result.etag, same, initInfo };
}

async function run() {
  await init();
  const uploader = new Uploader({ endpoint: '/v1/multipart/parallel', partSize: MIB, minPartSize: 1024,
                                  concurrency: 4, hashWorkers: 2, retries: 3 });
  const uploads = [await upload(uploader, 9 * MIB + 5), await upload(uploader, 1)];
  return { uploads, workersSeen };
}

window.bundleResult = run().catch(error => ({ failed: String(error), code: error?.code }));
