// "Unfinished uploads on the server": the uploads in progress the server lists for this caller
// (the wasm client's `uploader.unfinished()`, listUploads with every page followed). Nothing of it
// comes from localStorage, so it works after site data was cleared, in another browser or on
// another device: choosing the same file again (same name and size as the client stored in the
// upload's metadata) resumes it under the key it was started with. "Discard" aborts one on the
// server (asked twice: its parts are deleted for good).
//
// The section's `data-state` says where the listing is, for scripts and tests to wait on:
// `loading` (the first one), `ready`, `failed` (a quiet note says why) or `unavailable` (the client
// did not load, or has no `unfinished()`).
import { $, formatBytes, formatDuration, plural } from './format.js';
import { describeError } from './errors.js';

const section = () => $('#server-uploads');

/** The latest listing: uploads newest first, as `unfinished()` answers them. */
let listed = [];
let state = 'loading';
/** Why the latest listing failed (state `failed`). */
let failedWith = null;
let inFlight = null;
let again = false;
let settleFirst;
/** Settles once the first listing answered or failed (never rejects). */
export const firstListing = new Promise((resolve) => { settleFirst = resolve; });

let listUnfinished = null;
let discardUnfinished = null;
let isOnPage = () => false;
let onChange = () => renderServerList();

/**
 * Starts listing. `list()` answers the client's `unfinished()` promise (or null when the client has
 * no such call); `discard(uploadId)` the client's `discardUnfinished()`; `onPage(upload)` tells
 * the uploads that have a card on the page (they are not offered twice); `changed()` runs after
 * each listing settled and redraws this list (and the local one, which depends on it).
 */
export function initServerList({ list, discard, onPage, changed }) {
  listUnfinished = list;
  discardUnfinished = discard;
  isOnPage = onPage;
  onChange = changed;
  return refreshServerList();
}

/** The client could not start: there is nothing to list with. */
export function serverListUnavailable() {
  settle('unavailable', []);
}

/**
 * Lists again. Called while a listing runs, it lists once more after that one, so the result is
 * never older than the call.
 */
export function refreshServerList() {
  if (!listUnfinished) return Promise.resolve();
  if (inFlight) {
    again = true;
    return inFlight;
  }
  inFlight = (async () => {
    try {
      await listUntilCurrent();
    } finally {
      inFlight = null;
    }
  })();
  return inFlight;
}

/** Lists until no refresh was asked for meanwhile. */
async function listUntilCurrent() {
  do {
    again = false;
    let uploads;
    try {
      uploads = await listUnfinished();
    } catch (error) {
      // Quiet: an old server without listUploads, a token that may not list, the network. The
      // page goes on (the last listing, if any, stays); uploads still resume from what this
      // browser remembers.
      failedWith = error;
      settle('failed', listed);
      continue;
    }
    settle(uploads ? 'ready' : 'unavailable', uploads ?? []);
  } while (again);
}

function settle(newState, uploads) {
  state = newState;
  if (newState !== 'failed') failedWith = null;
  listed = Array.isArray(uploads) ? uploads : [];
  settleFirst();
  onChange();
}

const sameFile = (upload, file) => upload.file?.name === file.name && upload.file?.size === file.size;

/**
 * The listed upload that `file` would resume: same name and size in the metadata the client
 * stored, and the same lastModified when one has it (else the newest). The client checks the
 * stored parts' MD5s before resuming it, so a different file of the same name and size is never
 * taken for it.
 */
export function serverUploadFor(file) {
  const candidates = listed.filter((upload) => sameFile(upload, file));
  return candidates.find((upload) => upload.file.lastModified === file.lastModified) ?? candidates[0];
}

/** Whether the server lists the upload a local resume entry ({ key, name, size }) remembers. */
export function listedOnServer(entry) {
  return listed.some((upload) => upload.resourceKey === entry.key && sameFile(upload, entry));
}

/** Whether the latest listing has settled (answered or failed). */
export const listingSettled = () => state !== 'loading';

/** "3 min ago" for an RFC 3339 time; a date and time once it is a day old. */
function ago(rfc3339) {
  const at = new Date(rfc3339);
  const seconds = (Date.now() - at.getTime()) / 1000;
  if (!Number.isFinite(seconds)) return '';
  if (seconds < 10) return 'just now';
  if (seconds < 86_400) return `${formatDuration(seconds)} ago`;
  return at.toLocaleString([], { dateStyle: 'medium', timeStyle: 'short' });
}

function timeElement(rfc3339, words) {
  const time = document.createElement('time');
  time.dateTime = rfc3339;
  time.title = new Date(rfc3339).toLocaleString();
  time.textContent = `${words} ${ago(rfc3339)}`;
  return time;
}

function serverRow(upload) {
  const li = document.createElement('li');
  li.className = 'server-upload';
  li.dataset.uploadId = upload.uploadId;
  li.dataset.key = upload.resourceKey;
  const { file } = upload;
  const what = document.createElement('span');
  what.className = 'unfinished-what';
  const name = document.createElement('strong');
  name.textContent = file ? file.name : upload.resourceKey;
  const numbers = document.createElement('span');
  numbers.className = 'muted numbers';
  const stored = `${plural(upload.partsStored, 'part')} stored`;
  if (file) {
    const percent = file.size > 0 ? Math.floor((100 * upload.bytesStored) / file.size) : 100;
    numbers.textContent = [
      formatBytes(file.size),
      `${percent}% on the server (${stored})`,
      upload.resourceKey !== file.name ? `key ${upload.resourceKey}` : '',
    ].filter(Boolean).join(' · ');
  } else {
    numbers.textContent = `${formatBytes(upload.bytesStored)} in ${stored} · started by another client: its file is unknown here`;
  }
  const when = document.createElement('span');
  when.className = 'muted when';
  when.append(timeElement(upload.initiated, 'started'), ' · ', timeElement(upload.lastModified, 'last active'));
  what.append(name, ' ', numbers, document.createElement('br'), when);
  li.append(what);
  if (file) {
    // The file input: the page matches the chosen file to this upload by name and size.
    const choose = document.createElement('label');
    choose.className = 'button';
    choose.htmlFor = 'file-input';
    choose.textContent = 'Choose it again';
    choose.title = `Choose ${file.name} (${formatBytes(file.size)}) to continue this upload`;
    li.append(choose);
  }
  if (discardUnfinished) li.append(discardButton(upload));
  return li;
}

/**
 * "Discard": a first click asks ("Discard for good?"), a second aborts the upload on the server
 * and lists again; leaving the button (blur) takes the question back. A refusal is said in the
 * row, which stays.
 */
function discardButton(upload) {
  const button = document.createElement('button');
  button.type = 'button';
  button.className = 'link-button discard';
  const label = 'Discard';
  button.textContent = label;
  button.title = `Abort this upload on the server and delete what it stored (${formatBytes(upload.bytesStored)})`;
  button.addEventListener('blur', () => {
    if (button.dataset.state === 'asking') {
      delete button.dataset.state;
      button.textContent = label;
    }
  });
  button.addEventListener('click', async () => {
    if (button.dataset.state !== 'asking') {
      button.dataset.state = 'asking';
      button.textContent = 'Discard for good?';
      return;
    }
    button.dataset.state = 'discarding';
    button.disabled = true;
    button.textContent = 'Discarding…';
    try {
      await discardUnfinished(upload.uploadId);
    } catch (error) {
      delete button.dataset.state;
      button.disabled = false;
      button.textContent = label;
      const why = button.parentElement?.querySelector('.discard-error') ?? document.createElement('span');
      why.className = 'discard-error';
      why.textContent = `Not discarded: ${whyNotDiscarded(error)}`;
      why.title = describeError(error).detail;
      button.after(why);
      return;
    }
    // Gone, or already gone (completed or aborted elsewhere): either way the list is redrawn.
    await refreshServerList();
  });
  return button;
}

/** Why the listing failed, in a sentence. Not errors.js's texts for uploads: those tell to press
 *  "Try again" or pick another key, which means nothing here. */
function whyNotListed(error) {
  switch (error?.reason) {
    case 'network':
    case 'stalled':
      return 'the server could not be reached.';
    case 'unauthorized':
      return 'the server did not accept the upload token.';
    case 'access-denied':
      return `the upload token may not list them (${error.description}).`;
    default:
      return describeError(error).text;
  }
}

function whyNotDiscarded(error) {
  return error?.reason === 'access-denied'
    ? `the upload token may not abort it (${error.description}).`
    : whyNotListed(error);
}

/** Draws the section from the latest listing (uploads with a card on the page are left out). */
export function renderServerList() {
  const root = section();
  if (!root) return;
  root.dataset.state = state;
  const shown = listed.filter((upload) => !isOnPage(upload));
  $('#server-uploads-list').replaceChildren(...shown.map(serverRow));
  const note = $('#server-uploads-note');
  if (state === 'failed') {
    note.textContent = `The server's list of unfinished uploads could not be loaded: ${whyNotListed(failedWith)}`;
    note.title = describeError(failedWith).detail; // code, status, request id: for support, not in the way
  }
  note.hidden = state !== 'failed';
  root.hidden = shown.length === 0 && state !== 'failed';
}
