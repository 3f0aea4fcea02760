// What the browser rows of the benchmarks share: their log line, the median and MB/s of their
// figures, and the real random files they upload.
import { execSync } from 'node:child_process';
import path from 'node:path';

export const log = message => console.error(`[bench] ${message}`);

export const median = values => {
  const s = [...values].sort((a, b) => a - b);
  const n = s.length;
  return n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
};

/** MB (10^6 bytes) per second. */
export const mbps = (bytes, ms) => bytes / 1e6 / (ms / 1e3);

/** Writes `bytes` real pseudo-random bytes to a new file `name` under `dir`; returns its path. */
export function randomFile(dir, name, bytes) {
  const file = path.join(dir, name);
  execSync(`head -c ${bytes} /dev/urandom > '${file}'`);
  return file;
}
