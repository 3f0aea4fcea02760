// The page's uploads: every card's state, the page's own queue (FILES_AT_ONCE files upload at
// once, the others wait), and what happens when one starts, finishes, fails or is cancelled.
import { $ } from './format.js';
import { createCard, render, schedule } from './card.js';
import { addCompleted } from './completed.js';
import { earlierKey, forget, remember, renderUnfinished } from './resume-list.js';
import {
  firstListing, initServerList, listedOnServer, listingSettled, refreshServerList, renderServerList,
  serverListUnavailable, serverUploadFor,
} from './server-list.js';
import { keyFor, readSettings, uploaderFor } from './settings.js';

const ENDPOINT = '/v1/multipart/parallel';
const FILES_AT_ONCE = 2; // files uploading at once; the others wait in the page's queue

/** @type {Array<object>} every upload card on the page, in order */
const items = [];
let nextId = 1;
/** The wasm client's `Uploader` class, once it has loaded. */
let Uploader = null;
/** Whether the server's first listing of unfinished uploads settled: files wait for it, as it
 *  may hold the key they resume under. */
let listedOnce = false;

const filesOnPage = () => items.map((item) => item.file);

/** Whether `upload` (a listed one) has a card here: its own, or a file about to resume it. */
function onPage(upload) {
  return items.some((item) => item.uploadId === upload.uploadId ||
    (!item.uploadId && (item.state === 'queued' || item.state === 'running') && item.key === upload.resourceKey &&
      item.file.name === upload.file?.name && item.file.size === upload.file?.size));
}

/**
 * Redraws both unfinished lists (uploads with a card here are left out): the server's, and what
 * this browser remembers that the server does not list (drawn once the server's listing settled,
 * so an upload is never offered twice). Without a listing (it failed) the local list is all there is.
 */
export function showUnfinished() {
  renderServerList();
  if (listingSettled()) renderUnfinished(filesOnPage, listedOnServer);
}

/** The wasm client is ready: the server's unfinished uploads are listed, then queued files start. */
export function clientReady(UploaderClass) {
  Uploader = UploaderClass;
  firstListing.then(() => {
    listedOnce = true;
    pump();
  });
  initServerList({
    list: () => {
      const uploader = uploaderFor(Uploader, ENDPOINT, readSettings());
      // A client built before listUploads existed: no server list, the local one still works.
      return typeof uploader.unfinished === 'function' ? uploader.unfinished() : null;
    },
    discard: (uploadId) => uploaderFor(Uploader, ENDPOINT, readSettings()).discardUnfinished(uploadId),
    onPage,
    changed: showUnfinished,
  });
}

/** The wasm client could not load: nothing to list with, only what this browser remembers. */
export function clientMissing() {
  serverListUnavailable();
  showUnfinished();
}

/**
 * The key a file uploads to: the one an unfinished upload of it used (this browser's memory, else
 * the server's listing: same name and size), so that the client resumes it; else the setting's.
 */
function resolveKey(item) {
  if (item.keyResolved) return;
  item.key = earlierKey(item.file) ?? serverUploadFor(item.file)?.resourceKey ?? keyFor(item.file, item.settings.key);
  item.keyResolved = true;
}

const actions = {
  pause: (item) => item.upload?.pause(),
  resume: (item) => item.upload?.resume(),
  cancel,
  retry,
  dismiss,
  answer: (item, replace) => item.ask?.(replace),
};

export function addFiles(fileList) {
  const files = Array.from(fileList || []);
  if (!files.length) return;
  const settings = readSettings();
  for (const file of files) {
    const item = {
      id: nextId++,
      file,
      key: keyFor(file, settings.key),
      keyResolved: false,
      uploadId: null,
      settings,
      state: 'queued',
      progress: null,
      init: null,
      upload: null,
      error: null,
      result: null,
      ask: null,
      cells: [],
      renderQueued: false,
    };
    // Known now unless the server's listing is still on its way (then when the file starts).
    if (listingSettled()) resolveKey(item);
    item.el = createCard(item, actions);
    items.push(item);
    $('#uploads').append(item.el.root);
    render(item);
  }
  $('#uploads-empty').hidden = true;
  showUnfinished();
  pump();
}

/** Notes every running upload's progress (before the page goes away). */
export function rememberRunning() {
  items.filter((i) => i.state === 'running').forEach(remember);
}

function isActive(item) {
  return item.state === 'running' && !item.ask && item.progress?.phase !== 'paused';
}

/** Starts queued files while fewer than FILES_AT_ONCE are uploading. */
function pump() {
  // The wasm client is still loading, or the server's listing still coming: pump() runs again then.
  if (!Uploader || !listedOnce) return;
  let active = items.filter(isActive).length;
  for (const item of items) {
    if (active >= FILES_AT_ONCE) break;
    if (item.state === 'queued') {
      start(item);
      active += 1;
    }
  }
}

function start(item) {
  resolveKey(item);
  Object.assign(item, { state: 'running', error: null, result: null, progress: null, init: null });
  item.startedAt = performance.now();
  let lastRemembered = 0;
  try {
    item.upload = uploaderFor(Uploader, ENDPOINT, item.settings).upload(item.file, {
      resourceKey: item.key,
      instant: item.settings.instant,
      onProgress: (progress) => {
        const wasPaused = item.progress?.phase === 'paused';
        item.progress = progress;
        const now = performance.now();
        if (now - lastRemembered > 1000) {
          lastRemembered = now;
          remember(item);
        }
        schedule(item);
        if (wasPaused !== (progress.phase === 'paused')) pump();
      },
      onInit: (info) => {
        item.init = info;
        item.uploadId = info.uploadId;
        remember(item);
        showUnfinished(); // the server's row of the upload it resumed goes, one it refused comes back
        schedule(item);
      },
      onExists: () => askToReplace(item),
    });
  } catch (error) {
    failed(item, error);
    return;
  }
  item.upload.done.then((result) => finished(item, result), (error) => failed(item, error));
  render(item);
}

/** Shows the in-page question; resolves true to replace the existing object. */
function askToReplace(item) {
  return new Promise((resolve) => {
    item.ask = (answer) => {
      item.ask = null;
      item.declined = !answer;
      render(item);
      pump();
      resolve(answer);
    };
    render(item);
    item.el.replace.focus({ preventScroll: true });
    pump(); // a question does not hold up the other files
  });
}

function finished(item, result) {
  item.state = 'done';
  item.result = result;
  item.elapsed = (performance.now() - item.startedAt) / 1000;
  forget(item);
  refreshServerList();
  addCompleted({
    key: result.resourceKey,
    name: item.file.name,
    size: result.size,
    etag: result.etag,
    parts: result.parts,
    at: Date.now(),
  });
  render(item);
  pump();
}

function failed(item, error) {
  // `reason`, not the message: cancelled by the page, or the question answered "keep".
  if (error?.reason === 'cancelled' || error?.reason === 'declined') {
    item.state = item.declined || error.reason === 'declined' ? 'declined' : 'cancelled';
    forget(item);
  } else {
    item.state = 'failed';
    item.error = error;
    if (!(error instanceof Error)) console.error('partup: upload failed with', error);
  }
  if (item.ask) item.ask(false);
  render(item);
  showUnfinished();
  refreshServerList();
  pump();
}

async function cancel(item) {
  if (item.state === 'queued') {
    item.state = 'cancelled';
    render(item);
    return;
  }
  if (item.ask) item.ask(false); // answering the question settles the upload
  item.cancelling = true;
  render(item);
  try {
    await item.upload?.cancel();
  } finally {
    item.cancelling = false;
    render(item);
  }
}

function retry(item) {
  item.state = 'queued';
  item.declined = false;
  render(item);
  pump();
}

function dismiss(item) {
  items.splice(items.indexOf(item), 1);
  item.el.root.remove();
  $('#uploads-empty').hidden = items.length > 0;
  showUnfinished(); // a failed upload's card gone: it is offered in the lists again
}
