// The few W3C WebDriver commands the engine rows need, over plain HTTP (Node's fetch), so the same
// code drives chromedriver, geckodriver and WebKitWebDriver; scripts/bench.sh starts the drivers.
const ELEMENT = 'element-6066-11e4-a52e-4f735466cecf'; // the W3C web element identifier

export class Session {
  static async start(driverUrl, capabilities) {
    const value = await call(driverUrl, 'POST', '/session', { capabilities: { alwaysMatch: capabilities } });
    const { browserName, browserVersion } = value.capabilities;
    return new Session(driverUrl, value.sessionId, `${browserName} ${browserVersion}`);
  }

  constructor(driverUrl, id, browser) {
    this.base = `${driverUrl}/session/${id}`;
    this.browser = browser;
  }

  command(method, path, body) {
    return call(this.base, method, path, body);
  }

  async open(url, scriptTimeoutMs) {
    await this.command('POST', '/timeouts', { script: scriptTimeoutMs });
    await this.command('POST', '/url', { url });
  }

  /** Runs `body` (a function's source taking the args) in the page and waits for its promise. */
  run(body, ...args) {
    const script = `const done = arguments[arguments.length - 1];
      Promise.resolve((${body})(...Array.from(arguments).slice(0, -1)))
        .then(value => done({ value }), error => done({ error: String(error && error.stack || error) }));`;
    return this.command('POST', '/execute/async', { script, args }).then(({ value, error }) => {
      if (error) throw new Error(`${this.browser}: ${error}`);
      return value;
    });
  }

  /** Sets a file input's file from a path on this machine (WebDriver's "element send keys"). */
  async chooseFile(selector, path) {
    const element = await this.command('POST', '/element', { using: 'css selector', value: selector });
    if (!element[ELEMENT]) throw new Error(`no ${selector}: ${JSON.stringify(element)}`);
    await this.command('POST', `/element/${element[ELEMENT]}/value`, { text: path });
  }

  close() {
    return this.command('DELETE', '').catch(() => {});
  }
}

async function call(base, method, path, body) {
  const response = await fetch(base + path, {
    method,
    headers: { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const answer = await response.json();
  if (!response.ok) throw new Error(`WebDriver ${method} ${path}: ${JSON.stringify(answer.value)}`);
  return answer.value;
}
