// The test proxy: a small HTTP proxy in front of a real partup-server, on loopback. Every page is
// opened at the proxy's address (so the proxy is the page's server, whatever the engine) and the
// proxy does what the tests once asked of Playwright's request interception:
//   - counts part requests (`parts`) and delays each one (`partDelay` ms), so a test can act
//     mid-upload and see how many requests the page sent;
//   - holds part requests (`holdParts`: never forwarded, kept until the page gives up on them) and
//     says when none is on its way to the server any more (`settled()`), so a test can stop an
//     upload at a point where the server holds exactly the parts the page was told are stored: a
//     part whose request the page aborts after the proxy forwarded it may still be stored a moment
//     later (the server finishes a request whose body it has), and a listing taken meanwhile
//     would count one part fewer than the server ends up with;
//   - drops the connection of every `dropEvery`-th part request once the server's answer has begun
//     (its head is out, the body never comes), as a flaky network would. Not before any answer
//     byte: Chromium and Firefox then send the request again by themselves on a new connection
//     (a reused keep-alive connection that closes before answering is retried by their network
//     stacks), so the page would never see the failure; WebKit (libsoup) does not;
//   - answers a request itself when `answer(request)` returns `{ status, body }` (a full disk's 507);
//   - strips response headers (`stripHeaders(path)`, given the request's path and query, returns
//     the names to remove), to render an object the server means to be downloaded;
//   - puts a first <script> into the demo page (`/`, `/index.html`) that records the page's uncaught
//     errors, unhandled rejections and console.error calls in sessionStorage (so they survive a
//     reload) for `problems()` in browser.mjs: WebDriver has no console events in every engine.
import http from 'node:http';

const PART_PATH = '/v1/multipart/parallel/upload';
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export const PROBLEMS_KEY = 'partup-test-problems';

// Runs before the page's own module scripts. Only what the page itself reports: a browser's own
// "failed to load resource" lines are not console.error calls and never reach it.
const RECORDER = `<script>(() => {
  const read = () => JSON.parse(sessionStorage.getItem('${PROBLEMS_KEY}') || '[]');
  try {
    sessionStorage.setItem('${PROBLEMS_KEY}', JSON.stringify(read())); // here: problems() can tell
  } catch (error) { /* no storage */ }
  const note = (text) => {
    try {
      const list = read();
      list.push(String(text));
      sessionStorage.setItem('${PROBLEMS_KEY}', JSON.stringify(list));
    } catch (error) { /* no storage: nothing to record into */ }
  };
  const describe = (value) => value instanceof Error ? value.name + ': ' + value.message
    : typeof value === 'object' && value !== null ? (() => { try { return JSON.stringify(value); } catch (e) { return String(value); } })()
    : String(value);
  addEventListener('error', (event) => note('page error: ' + (event.message || describe(event.error))));
  addEventListener('unhandledrejection', (event) => note('page error: unhandled rejection: ' + describe(event.reason)));
  const consoleError = console.error;
  console.error = function (...args) {
    note('console error: ' + args.map(describe).join(' '));
    return consoleError.apply(this, args);
  };
})();</script>`;

const isPart = (request) => request.method === 'POST' && new URL(request.url, 'http://x').pathname.endsWith(PART_PATH);
const isDemoPage = (request) => request.method === 'GET' && ['/', '/index.html'].includes(new URL(request.url, 'http://x').pathname);

/** The demo page's HTML with the recorder as its first script. */
function withRecorder(html) {
  const at = html.search(/<script[\s>]/i);
  const head = html.search(/<\/head>/i);
  const where = at >= 0 ? at : head >= 0 ? head : 0;
  return html.slice(0, where) + RECORDER + html.slice(where);
}

export async function startTestProxy(target) {
  const proxy = {
    parts: 0,
    dropped: 0,
    partDelay: 0,
    dropEvery: 0,
    answer: null,
    stripHeaders: null,
    holdParts: false,
    forwardingParts: 0,
    onSettled: [],
  };
  /** Resolves once no part request is being forwarded to the server (at once if none is). */
  proxy.settled = () => new Promise((resolve) => {
    if (proxy.forwardingParts === 0) resolve();
    else proxy.onSettled.push(resolve);
  });
  const server = http.createServer((request, response) => {
    handle(proxy, target, request, response).catch(() => response.destroy());
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  proxy.base = `http://127.0.0.1:${server.address().port}`;
  proxy.close = () => {
    server.closeAllConnections();
    server.close();
  };
  return proxy;
}

// PARTUP_PROXY_LOG=1: every request and what the proxy did with it, on stderr (for debugging a test).
const trace = process.env.PARTUP_PROXY_LOG ? (...words) => console.error(`# proxy ${Date.now() % 100000}`, ...words) : () => {};

async function handle(proxy, target, request, response) {
  let part = 0;
  trace(request.method, request.url, `socket ${request.socket.remotePort}`);
  if (isPart(request)) {
    proxy.parts += 1;
    part = proxy.parts;
    trace(`part request ${part}`);
    if (proxy.partDelay) await sleep(proxy.partDelay);
    if (proxy.holdParts) {
      trace(`part request ${part} held`);
      await new Promise((resolve) => (request.socket.destroyed ? resolve() : request.socket.once('close', resolve)));
      return;
    }
    if (request.socket.destroyed) return; // the page gave up on it meanwhile (pause, cancel, reload)
    proxy.forwardingParts += 1;
    response.once('close', () => {
      proxy.forwardingParts -= 1;
      if (proxy.forwardingParts === 0) for (const resolve of proxy.onSettled.splice(0)) resolve();
    });
  }
  const drop = part > 0 && proxy.dropEvery > 0 && part % proxy.dropEvery === 0;
  if (drop) proxy.dropped += 1;
  const reply = proxy.answer?.(request, part);
  if (reply) {
    request.resume(); // read the body first, as a server would
    request.on('end', () => {
      trace(`answered ${request.url} with ${reply.status}`);
      response.writeHead(reply.status, { 'content-type': 'application/json' });
      response.end(JSON.stringify(reply.body));
    });
    return;
  }
  forward(proxy, target, request, response, drop);
}

/** Sends the answer's head, then closes the connection: the body never arrives. */
function dropAfterHead(request, response, answered, headers) {
  answered.resume();
  response.writeHead(answered.statusCode, headers);
  response.flushHeaders();
  // The empty write's callback runs once the head is written to the socket.
  request.socket.write('', () => request.socket.destroy());
}

function forward(proxy, target, request, response, drop) {
  const rewrite = isDemoPage(request);
  const headers = { ...request.headers };
  if (rewrite) {
    // The page's HTML is rewritten: ask for it uncompressed and in full, never as a 304.
    for (const name of ['accept-encoding', 'if-none-match', 'if-modified-since']) delete headers[name];
  }
  const upstream = http.request(new URL(request.url, target), { method: request.method, headers }, (answered) => {
    trace(`${request.method} ${request.url}: ${answered.statusCode}`);
    const answerHeaders = { ...answered.headers };
    for (const name of proxy.stripHeaders?.(request.url) || []) delete answerHeaders[name.toLowerCase()];
    if (drop) {
      trace(`${request.method} ${request.url}: connection dropped after the head`);
      dropAfterHead(request, response, answered, answerHeaders);
      return;
    }
    if (!rewrite || !/text\/html/.test(answered.headers['content-type'] || '')) {
      response.writeHead(answered.statusCode, answerHeaders);
      answered.pipe(response);
      return;
    }
    const chunks = [];
    answered.on('data', (chunk) => chunks.push(chunk));
    answered.on('end', () => {
      const body = Buffer.from(withRecorder(Buffer.concat(chunks).toString('utf8')));
      for (const name of ['content-length', 'etag', 'last-modified']) delete answerHeaders[name];
      response.writeHead(answered.statusCode, { ...answerHeaders, 'content-length': body.length });
      response.end(body);
    });
  });
  // The page went away mid-request: so does the request to the server.
  response.on('close', () => {
    if (response.writableFinished) return;
    trace(`${request.method} ${request.url}: the page went away`);
    upstream.destroy();
  });
  // No server (it was killed): the page's connection drops, as it would without the proxy.
  upstream.on('error', () => response.destroy());
  request.pipe(upstream);
}
