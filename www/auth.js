// Upload tokens for the demo, only when the page is opened with `?tokenUrl=URL` (scripts/demo.sh
// --auth prints that address): every request's token comes from that endpoint — an example of the
// app's backend (scripts/token-endpoint.py) — and object links carry one as `?token=`.
// Without the parameter the page is anonymous, as the loopback demo server is.

const tokenUrl = new URLSearchParams(location.search).get('tokenUrl');
// Fetched again well before a token's lifetime ends, or at once when the uploader saw a 401.
const REFRESH_AFTER_MS = 60_000;

let token = null;
let fetchedAt = 0;

async function freshToken(refresh) {
  if (refresh || !token || Date.now() - fetchedAt > REFRESH_AFTER_MS) {
    const answer = await fetch(new URL('token', tokenUrl.endsWith('/') ? tokenUrl : `${tokenUrl}/`));
    if (!answer.ok) throw new Error(`the token endpoint answered HTTP ${answer.status}`);
    token = (await answer.text()).trim();
    fetchedAt = Date.now();
  }
  return token;
}

/** The Uploader's `headers` option: a function when tokens are on, else none. */
export function tokenHeaders() {
  if (!tokenUrl) return undefined;
  return async ({ refresh }) => ({ Authorization: `Bearer ${await freshToken(refresh)}` });
}

/** `url` with the latest token as `?token=` (reads need one too), when tokens are on. */
export function withReadToken(url) {
  return tokenUrl && token ? `${url}?token=${encodeURIComponent(token)}` : url;
}

/** Fetches the first token early, so object links have one before the first upload. */
export async function initAuth() {
  if (tokenUrl) await freshToken(false);
}
