// The one way the page suites drive a browser: a fresh W3C WebDriver session (selenium-webdriver)
// of the engine scripts/test-page.sh runs them in (harness/engines.mjs), behind a small
// Playwright-like layer so that the tests read as before: `page.locator(css)` with click,
// innerText, getAttribute, isVisible, count, waitFor; `page.evaluate(fn, arg)`; screenshots.
// Elements are looked up in the page on every call (no stale references), by CSS steps.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Builder } from 'selenium-webdriver';
import { Downloads } from './harness/downloads.mjs';
import { ENGINE, WEBDRIVER_URL, capabilities } from './harness/engines.mjs';
import { PROBLEMS_KEY } from './harness/proxy.mjs';

const ARTIFACTS = process.env.PARTUP_ARTIFACTS || path.resolve('artifacts');
const DEFAULT_TIMEOUT = 60_000;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// Finds the elements of a locator's steps, in the page. Each step: a CSS selector (searched under
// every element found so far), then optional filters: `hasText` (in textContent), `visible`
// (a non-empty box and not visibility:hidden, as Playwright means it), and a pick (first, last).
const FIND = `
const visible = (el) => {
  const box = el.getBoundingClientRect();
  return box.width > 0 && box.height > 0 && getComputedStyle(el).visibility !== 'hidden';
};
const find = (steps) => {
  let found = [document];
  for (const step of steps) {
    const next = new Set();
    for (const root of found) for (const el of root.querySelectorAll(step.css)) next.add(el);
    found = [...next];
    if (step.hasText != null) found = found.filter((el) => el.textContent.includes(step.hasText));
    if (step.visible) found = found.filter(visible);
    if (step.pick === 'first') found = found.slice(0, 1);
    if (step.pick === 'last') found = found.slice(-1);
  }
  return found;
};`;

// innerText, with every run of white space made one space: engines place line breaks between
// blocks differently (a card's innerText has blank lines between its groups in Chromium and
// Firefox, single line breaks and a trailing one in WebKit), while the tests are about the words.
const normalise = (text) => text.replace(/\s+/g, ' ').trim();

class Locator {
  constructor(page, steps) {
    this.page = page;
    this.steps = steps;
  }

  #with(change) {
    const steps = this.steps.slice();
    steps[steps.length - 1] = { ...steps[steps.length - 1], ...change };
    return new Locator(this.page, steps);
  }

  locator(css, { visible = false } = {}) {
    return new Locator(this.page, [...this.steps, { css, visible }]);
  }

  first() { return this.#with({ pick: 'first' }); }
  last() { return this.#with({ pick: 'last' }); }
  filter({ hasText }) { return this.#with({ hasText }); }

  /** Runs `body` (a function body with `els`, the elements found, and `arg`) in the page. */
  #run(body, arg) {
    return this.page.driver.executeScript(`${FIND}\nconst els = find(arguments[0]); const arg = arguments[1];\n${body}`,
      this.steps, arg);
  }

  count() { return this.#run('return els.length;'); }

  async isVisible() { return this.#run('return els.length === 1 && visible(els[0]);'); }
  async isHidden() { return !(await this.isVisible()); }

  /** Waits for exactly one element (Playwright's strictness), then returns what `body` returns for it. */
  async #one(body, arg, { timeout = DEFAULT_TIMEOUT, visible = false } = {}) {
    const deadline = Date.now() + timeout;
    let seen;
    while (Date.now() < deadline) {
      seen = await this.#run(`if (els.length !== 1${visible ? ' || !visible(els[0])' : ''}) return { count: els.length };
        const el = els[0]; return { value: (() => { ${body} })() };`, arg);
      if (!('count' in seen)) return seen.value;
      await sleep(50);
    }
    throw new Error(`${JSON.stringify(this.steps)}: ${seen.count} elements match${visible ? ' (visible)' : ''} after ${timeout} ms`);
  }

  async innerText(options) { return normalise(await this.#one('return el.innerText;', null, options)); }
  getAttribute(name, options) { return this.#one('return el.getAttribute(arg);', name, options); }
  scrollIntoView() { return this.#one("el.scrollIntoView({ block: 'center' });"); }
  evaluateAll(fn) { return this.#run(`return (${fn})(els);`); }

  /** state: 'visible' (default), 'attached', 'hidden' (absent counts as hidden). */
  async waitFor({ state = 'visible', timeout = DEFAULT_TIMEOUT } = {}) {
    const deadline = Date.now() + timeout;
    while (Date.now() < deadline) {
      const [count, shown] = await this.#run('return [els.length, els.length === 1 && visible(els[0])];');
      if (state === 'attached' ? count > 0 : state === 'hidden' ? !shown : shown) return;
      await sleep(50);
    }
    throw new Error(`${JSON.stringify(this.steps)} did not become ${state} in ${timeout} ms`);
  }

  /** A real click (WebDriver's, at the element's centre), once the element is there and visible. */
  async click({ timeout = DEFAULT_TIMEOUT } = {}) {
    const deadline = Date.now() + timeout;
    for (;;) {
      const element = await this.#one('return el;', null, { timeout, visible: true });
      try {
        return await element.click();
      } catch (error) {
        // Covered or moving (a card being redrawn): try again, as Playwright's click does.
        if (Date.now() > deadline || !/not interactable|click intercepted|stale/i.test(error.message)) throw error;
        await sleep(100);
      }
    }
  }

  /** Sets the input's files, as choosing them in the file dialog does (one path per line). */
  async setInputFiles(paths) {
    const element = await this.#one('return el;');
    await element.sendKeys([].concat(paths).join('\n'));
  }

  /**
   * Replaces the field's value and fires `input`, as Playwright's fill does (no `change`: the caller
   * dispatches it). Not WebDriver's clear + send keys: clear fires `change` on the empty field, which
   * the settings panel answers by putting its default back before the keys arrive.
   */
  fill(value) {
    return this.#one(`el.focus(); el.value = arg; el.dispatchEvent(new Event('input', { bubbles: true }));
      return el.value;`, String(value), { visible: true });
  }

  selectOption(value) {
    return this.#one(`el.value = arg; el.dispatchEvent(new Event('input', { bubbles: true }));
      el.dispatchEvent(new Event('change', { bubbles: true })); return el.value;`, value);
  }

  dispatchEvent(type) {
    return this.#one('el.dispatchEvent(new Event(arg, { bubbles: true }));', type);
  }
}

class Page {
  constructor(driver, downloads, pageLoadStrategy, engine) {
    this.driver = driver;
    this.engine = engine;
    this.downloads = downloads;
    this.pageLoadStrategy = pageLoadStrategy;
  }

  locator(css, options) { return new Locator(this, []).locator(css, options); }

  /** Runs `fn` (its source: it sees no variable of the test) in the page with `arg`; awaits promises. */
  evaluate(fn, arg) {
    return this.driver.executeScript(`return (${fn}).apply(null, arguments);`, arg);
  }

  async waitForFunction(fn, arg, { timeout = DEFAULT_TIMEOUT } = {}) {
    const deadline = Date.now() + timeout;
    while (Date.now() < deadline) {
      if (await this.evaluate(fn, arg).catch(() => false)) return;
      await sleep(100);
    }
    throw new Error(`timed out after ${timeout} ms waiting for ${fn}`);
  }

  /**
   * Navigates like the address bar does. With pageLoadStrategy 'none' (the downloads suite:
   * geckodriver's navigate never returns for an address that turns into a download) this waits
   * itself until the new document has loaded; `{ wait: false }` does not wait at all.
   */
  async goto(url, { wait = true } = {}) {
    await this.driver.get(url);
    if (wait && this.pageLoadStrategy === 'none') {
      await this.waitForFunction((u) => location.href === u && document.readyState === 'complete', url);
    }
  }

  async reload() {
    await this.driver.navigate().refresh();
  }

  waitForSelector(css, options) { return this.locator(css).waitFor({ state: 'attached', ...options }); }

  url() { return this.driver.getCurrentUrl(); }
  title() { return this.driver.getTitle(); }

  /**
   * A screenshot of the viewport (WebDriver has no full-page one in every engine), as ENGINE-name,
   * scrolled first so that `show` (a locator), if given, is in the middle of it.
   */
  async screenshot(name, { show } = {}) {
    if (show) await show.scrollIntoView();
    const file = path.join(ARTIFACTS, `${this.engine}-${name}`);
    fs.writeFileSync(file, Buffer.from(await this.driver.takeScreenshot(), 'base64'));
    return file;
  }

  /**
   * A new top-level browsing context, made the current one; returns its handle. A window, not a
   * tab: MiniBrowser opens a WebDriver tab in the background, where the document is hidden (no
   * rendering) and a screenshot never returns.
   */
  async newWindow() {
    await this.driver.switchTo().newWindow('window');
    return this.driver.getWindowHandle();
  }

  async switchTo(handle) { await this.driver.switchTo().window(handle); }

  /** What the proxy's recorder saw: uncaught errors, unhandled rejections, console.error calls. */
  async problems() {
    const stored = await this.evaluate((key) => sessionStorage.getItem(key), PROBLEMS_KEY);
    if (stored === null) throw new Error('the test proxy\'s error recorder is not in this page: its errors would go unseen');
    const recorded = JSON.parse(stored);
    return recorded.filter((text) => !/Failed to load resource|ERR_CONNECTION_REFUSED|net::/.test(text));
  }

  /**
   * Makes the viewport (window.innerWidth × innerHeight) exactly `width` × `height` CSS px: the
   * window is sized by the difference between its outer and inner sizes. Firefox's browser window
   * is at least 500 px wide and MiniBrowser's 447 px (their toolbars); for narrower viewports the
   * page continues in a toolbar-less popup of that size (window.open), which has no such minimum.
   */
  async setViewport(width, height) {
    let [w, h] = await this.#sizeWindow(width, height);
    if (w !== width) {
      await this.#openPopup(width, height, w);
      [w, h] = await this.#sizeWindow(width, height);
    }
    if (w !== width || h !== height) throw new Error(`the ${this.engine} viewport is ${w}×${h}, not ${width}×${height}`);
  }

  /** Sizes the current window for an inner size of `width` × `height`; returns the inner size it got. */
  async #sizeWindow(width, height) {
    const inner = () => this.evaluate(() => [window.innerWidth, window.innerHeight]);
    const [w, h] = await inner();
    const rect = await this.driver.manage().window().getRect();
    await this.driver.manage().window().setRect({ width: rect.width + width - w, height: rect.height + height - h });
    return inner();
  }

  /** Opens a toolbar-less popup window of that size and makes it the current window. */
  async #openPopup(width, height, narrowest) {
    const before = await this.driver.getAllWindowHandles();
    const opened = await this.evaluate(([w, h]) => window.open('about:blank', '_blank', `popup,width=${w},height=${h}`) !== null,
      [width, height]);
    if (!opened) throw new Error(`the ${this.engine} window is ${narrowest} px wide at least, and it blocked the popup`);
    await this.waitForNewWindow(before);
  }

  /** Waits for a window that is not one of `before`, and makes it the current one. */
  async waitForNewWindow(before, timeout = 10_000) {
    const deadline = Date.now() + timeout;
    while (Date.now() < deadline) {
      const added = (await this.driver.getAllWindowHandles()).filter((h) => !before.includes(h));
      if (added.length) return this.switchTo(added[0]);
      await sleep(100);
    }
    throw new Error('no new window opened');
  }

  async close() {
    try {
      await this.driver.quit();
    } finally {
      if (this.ownDownloads) fs.rmSync(this.downloads.dir, { recursive: true, force: true });
    }
  }
}

/**
 * A new session (fresh profile) of this run's engine — or of `engine` at `webdriverUrl`, a driver a
 * test started itself (harness/other-engine.mjs). Downloads are saved, without asking, into a
 * directory of the session's own (Chromium, Firefox) or into MiniBrowser's download directory
 * (PARTUP_WEBKIT_DOWNLOADS, emptied here: sessions run one after another).
 */
export async function openBrowser({ pageLoadStrategy = 'normal', engine = ENGINE, webdriverUrl = WEBDRIVER_URL } = {}) {
  if (!webdriverUrl) throw new Error('PARTUP_WEBDRIVER_URL is not set: run scripts/test-page.sh');
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  const shared = engine === 'webkit' ? process.env.PARTUP_WEBKIT_DOWNLOADS : null;
  if (engine === 'webkit' && !shared) throw new Error('PARTUP_WEBKIT_DOWNLOADS is not set: run scripts/test-page.sh');
  const dir = shared || fs.mkdtempSync(path.join(process.env.PARTUP_TMP || os.tmpdir(), `downloads-${engine}-`));
  const downloads = new Downloads(dir);
  downloads.clear();
  const driver = await new Builder().usingServer(webdriverUrl)
    .withCapabilities(capabilities(engine, { downloadDir: dir, pageLoadStrategy })).build();
  const page = new Page(driver, downloads, pageLoadStrategy, engine);
  page.ownDownloads = !shared;
  return page;
}

export { ENGINE };
