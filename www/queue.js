// The page's uploads: every card's state, the page's own queue (FILES_AT_ONCE files upload at
// once, the others wait), and what happens when one starts, finishes, fails or is cancelled.
import { $ } from './format.js';
import { createCard, render, schedule } from './card.js';
import { addCompleted } from './completed.js';
import { earlierKey, forget, remember, renderUnfinished } from './resume-list.js';
import { keyFor, readSettings, uploaderFor } from './settings.js';

const ENDPOINT = '/v1/multipart/parallel';
const FILES_AT_ONCE = 2; // files uploading at once; the others wait in the page's queue

/** @type {Array<object>} every upload card on the page, in order */
const items = [];
let nextId = 1;
/** The wasm client's `Uploader` class, once it has loaded. */
let Uploader = null;

const filesOnPage = () => items.map((item) => item.file);

/** Redraws the "Unfinished uploads" list (files with a card here are left out). */
export function showUnfinished() {
  renderUnfinished(filesOnPage);
}

/** The wasm client is ready: queued files start. */
export function clientReady(UploaderClass) {
  Uploader = UploaderClass;
  pump();
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
    // A file that was being uploaded before a reload goes back to the same key, so it resumes.
    const item = {
      id: nextId++,
      file,
      key: earlierKey(file) ?? keyFor(file, settings.key),
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
  if (!Uploader) return; // the wasm client is still loading; pump() runs again once it is ready
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
        remember(item);
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
}
