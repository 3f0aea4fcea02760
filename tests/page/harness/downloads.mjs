// What a browser saved: every engine here saves downloads without asking into a directory the test
// knows (browser.mjs, engines.mjs), so a download is checked as a file on disk: its name (the
// Content-Disposition filename or the link's `download`) and its bytes.
import fs from 'node:fs';
import path from 'node:path';

// Where a download is while it runs: Chromium's `.crdownload`, Firefox's `.part` (beside an empty
// placeholder under the final name), WebKit's `.wkdownload` (likewise).
const PARTIAL = /\.(crdownload|part|wkdownload)$/;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export class Downloads {
  constructor(dir) {
    this.dir = dir;
    fs.mkdirSync(dir, { recursive: true });
  }

  /** Deletes everything saved so far (a new session starts with an empty directory). */
  clear() {
    for (const name of fs.readdirSync(this.dir)) fs.rmSync(path.join(this.dir, name), { recursive: true, force: true });
  }

  names() {
    return fs.readdirSync(this.dir).sort();
  }

  /**
   * Waits until a file called `name` is completely saved (no partial file left, and the same size on
   * two looks in a row: Firefox and WebKit create the final name, empty, a moment before the partial
   * file), returns its bytes and deletes it, so the next download of the same name is saved under
   * that name again (WebKit does not number a second file of the same name: that download fails).
   */
  async take(name, timeout = 120_000) {
    const file = path.join(this.dir, name);
    const deadline = Date.now() + timeout;
    let lastSize = -1;
    while (Date.now() < deadline) {
      const all = fs.readdirSync(this.dir);
      const size = all.includes(name) && !all.some((entry) => PARTIAL.test(entry)) ? fs.statSync(file).size : -1;
      if (size >= 0 && size === lastSize) {
        const bytes = fs.readFileSync(file);
        fs.rmSync(file);
        return bytes;
      }
      lastSize = size;
      await sleep(150);
    }
    throw new Error(`no download called ${name} was saved in ${timeout / 1000} s; the directory holds: ` +
      `${this.names().join(', ') || 'nothing'}`);
  }
}
