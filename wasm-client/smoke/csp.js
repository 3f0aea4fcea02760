// The CSP pages of the smoke test (csp-strict.html, csp-refused.html): a module script of its own,
// as a strict script-src refuses inline scripts. Uploads a file of a few parts and reports how its
// parts were hashed; scripts/smoke-client-pkg.sh reads window.cspResult.
import init, { Uploader } from './pkg/partup.js';

async function run() {
  await init();
  const size = 2 * 1024 * 1024 + 5;
  const bytes = new Uint8Array(size);
  for (let i = 0; i < size; i++) bytes[i] = (i * 7 + (i >> 9)) & 255;
  const key = `smoke/${Date.now()}/csp.bin`;
  let initInfo = null;
  const uploader = new Uploader({ endpoint: '/v1/multipart/parallel', partSize: 1 << 20,
                                  minPartSize: 1024, hashWorkers: 2 });
  await uploader.upload(new File([bytes], 'csp.bin'), { resourceKey: key, onInit: info => { initInfo = info; } }).done;
  const stored = new Uint8Array(await (await fetch(`/v1/objects/${key}`)).arrayBuffer());
  const same = stored.length === size && stored.every((b, i) => b === bytes[i]);
  return { same, hashing: initInfo.hashing, hashWorkers: initInfo.hashWorkers, hashingFallback: initInfo.hashingFallback };
}

window.cspResult = run().catch(e => ({ failed: String(e), code: e && e.code }));
