// A second engine's WebDriver driver, started by a test itself: scripts/test-page.sh runs one
// engine's driver per run, and a test that starts an upload in one engine and finishes it in
// another needs a second. Chromium's and Firefox's drivers are started here as the script starts
// them (scripts/setup.sh `start_webdriver`: `chromedriver --port=0`, `geckodriver --port 0`, each
// saying which port it got), headless, in a process group of their own, so that stopping the
// driver stops every browser it started too. WebKit is never the other engine: it needs an Xvfb
// display of its own (the script's job), and Chromium or Firefox always differ from the run's.
import { spawn } from 'node:child_process';
import { ENGINE } from './engines.mjs';

/** The engine a test pairs with this run's: Firefox for a Chromium run, else Chromium. */
export const OTHER_ENGINE = ENGINE === 'chromium' ? 'firefox' : 'chromium';

const DRIVERS = {
  // "ChromeDriver was started successfully on port 41235."
  chromium: { command: '/usr/bin/chromedriver', args: ['--port=0'], port: /started successfully on port (\d+)/ },
  // "... INFO Listening on 127.0.0.1:40123"
  firefox: { command: 'geckodriver', args: ['--port', '0'], port: /Listening on [\d.]+:(\d+)/ },
};

const STARTUP_MS = 30_000;
const STOP_GRACE_MS = 5_000;

/** Stops every process of group `pgid`; false when there was none left. */
function signalGroup(pgid, signal) {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch {
    return false;
  }
}

/**
 * Starts `engine`'s driver; resolves `{ engine, url, stop() }` once it listens. `stop()` ends the
 * driver's whole process group (SIGTERM, SIGKILL after 5 s) and resolves when the driver exited;
 * the group is also killed if the test process exits first (a timed-out test, --test-force-exit).
 */
export async function startDriver(engine) {
  const driver = DRIVERS[engine];
  if (!driver) throw new Error(`no driver of its own for ${engine}: only ${Object.keys(DRIVERS).join(' and ')}`);
  // detached: the driver leads a process group of its own (the browsers it starts join it).
  const child = spawn(driver.command, driver.args, { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  const killOnExit = () => signalGroup(child.pid, 'SIGKILL');
  process.on('exit', killOnExit);
  const exited = new Promise((resolve) => child.on('exit', resolve));
  let printed = '';
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${driver.command} did not say its port in ${STARTUP_MS} ms:\n${printed}`)),
      STARTUP_MS);
    const read = (chunk) => {
      printed += chunk;
      const port = driver.port.exec(printed);
      if (port) {
        clearTimeout(timer);
        resolve(`http://127.0.0.1:${port[1]}`);
      }
    };
    child.stdout.on('data', read);
    child.stderr.on('data', read);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`${driver.command} exited (${code ?? signal}) before listening:\n${printed}`));
    });
  }).catch(async (error) => {
    signalGroup(child.pid, 'SIGKILL');
    process.off('exit', killOnExit);
    throw error;
  });
  // Its log is not needed once it listens, but must be read so that the driver never blocks on it.
  child.stdout.resume();
  child.stderr.resume();
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      signalGroup(child.pid, 'SIGTERM');
      let timer;
      const gone = await Promise.race([exited.then(() => true),
        new Promise((resolve) => { timer = setTimeout(() => resolve(false), STOP_GRACE_MS); })]);
      clearTimeout(timer);
      if (!gone) signalGroup(child.pid, 'SIGKILL');
    }
    // Browsers the driver left behind (the driver itself already gone) go with its group.
    signalGroup(child.pid, 'SIGKILL');
    process.off('exit', killOnExit);
  };
  return { engine, url, stop };
}
