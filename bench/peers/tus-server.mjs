// The tus peer of the benchmarks' peers rows (bench/browser/peers.mjs): @tus/server with
// @tus/file-store on a directory, with their default settings, at /files/. Once bound it prints
// `tus-server listening on http://HOST:PORT/` (scripts/setup.sh's start_service reads it there).
//
//   node bench/peers/tus-server.mjs --dir DIR [--listen HOST] [--hold-answer-ms MS]
//
// --listen: the address to bind (default 127.0.0.1; the shaped link's host side is 10.213.0.1), port
// chosen by the system. --hold-answer-ms: on the shaped link, each request that carries file bytes
// has its answer held MS after the bytes were written, as the fault proxy holds partup's and the
// store's part answers (`delayAnswer`): the proxy only knows those two protocols, so the tus peer pays
// the same added latency per request here. CORS: @tus/server answers any origin by default.
import http from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { Server } from '@tus/server';
import { FileStore } from '@tus/file-store';

const argv = process.argv.slice(2);
const option = (name, fallback) => {
  const at = argv.indexOf(`--${name}`);
  return at >= 0 ? argv[at + 1] : fallback;
};
const directory = option('dir');
if (!directory) {
  console.error('usage: node bench/peers/tus-server.mjs --dir DIR [--listen HOST] [--hold-answer-ms MS]');
  process.exit(2);
}
const host = option('listen', '127.0.0.1');
const holdMs = Number(option('hold-answer-ms', '0'));

/** The file store, whose write (a PATCH's bytes, or a creation-with-upload POST's) ends `holdMs`
 * later: the handler answers once it resolves, so the answer is held after the bytes are written. */
class HeldAnswerFileStore extends FileStore {
  async write(...args) {
    const offset = await super.write(...args);
    if (holdMs > 0) await sleep(holdMs);
    return offset;
  }
}

const tus = new Server({ path: '/files', datastore: new HeldAnswerFileStore({ directory }) });
const server = http.createServer((req, res) => tus.handle(req, res));
server.listen(0, host, () => {
  const { address, port } = server.address();
  console.log(`tus-server listening on http://${address}:${port}/`);
});
for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => process.exit(0));
