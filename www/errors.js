// What a failed upload says: a sentence from the PartupError's fields (reason, code, description,
// partNumber) — never parsed out of its message — and a line of details for support.

function sentence(text) {
  let s = text.trim();
  const firstWord = s.split(/\s/, 1)[0];
  if (/^[a-z]/.test(s) && !/[A-Z]/.test(firstWord)) s = s[0].toUpperCase() + s.slice(1);
  if (!/[.!?]$/.test(s)) s += '.';
  return s;
}

/** Anything thrown that is not a PartupError (a failed import, say), as text. */
function plainMessage(error) {
  let message = typeof error === 'string' ? error : error.message;
  if (typeof message !== 'string' || !message || message === '[object Object]') {
    try {
      message = JSON.stringify(error);
    } catch {
      message = String(error);
    }
  }
  return sentence(message);
}

/** The sentence to show for an error, and a line of details (code, status, request id). */
export function describeError(error) {
  if (error == null) return { text: 'Something went wrong, and the browser did not say what.', detail: '' };
  if (error.name !== 'PartupError' || typeof error.description !== 'string') {
    return { text: plainMessage(error), detail: '' };
  }
  const { code, reason, status, requestId, partNumber } = error;
  const message = partNumber != null ? `Part ${partNumber}: ${error.description}` : sentence(error.description);
  const what = sentence(message);
  let text = what;
  if (reason === 'network') {
    text = 'The server could not be reached, even after retrying. Check that it is running and that you are online, then press “Try again”: the parts already sent are kept.';
  } else if (reason === 'stalled') {
    text = 'The connection stalled and did not recover. Press “Try again” to continue where it stopped.';
  } else if (reason === 'server-full') {
    text = 'The server is out of space, so it cannot store this upload. The parts already sent are kept: press “Try again” once space has been freed there.';
  } else if (code === 'InvalidObjectName') {
    text = `The server refused this resource key: ${what}`;
  } else if (reason === 'unauthorized') {
    text = `The server did not accept the upload token, even a fresh one: ${what}`;
  } else if (reason === 'access-denied') {
    text = `Your upload token does not allow this: ${what} Pick another resource key.`;
  } else if (reason === 'object-exists') {
    text = `Someone stored this resource key while you uploaded, and yours may not replace it: ${what}`;
  } else if (reason === 'file-changed') {
    text = `The file changed on disk after you chose it, or was deleted: ${what} Choose it again to upload it as it is now.`;
  } else if (reason === 'file-unreadable') {
    text = `The file could not be read: ${what} Choose it again if it changed on disk.`;
  }
  const detail = [
    code && `code ${code}`,
    status && `HTTP ${status}`,
    requestId && `request ${requestId}`,
    reason === 'network' || reason === 'stalled' || reason === 'server-full' ? what : '',
  ].filter(Boolean).join(' · ');
  return { text, detail };
}
