// partup's demo page: pick or drop files, watch their parts go up, pause, resume, cancel, and pick
// an upload up again after a reload. Plain ES module over the wasm client in ./pkg/.
// The client is imported dynamically so that a missing build shows a message instead of a blank page.
let Uploader = null;

const ENDPOINT = '/v1/multipart/parallel';
const OBJECTS = '/v1/objects/';
const FILES_AT_ONCE = 2; // files uploading at once; the others wait in the page's queue
const MAX_CELLS = 240; // cells in a part grid at most; past that one cell stands for several parts
const KiB = 1024;
const MiB = 1024 * KiB;
const PART_SIZES = [256 * KiB, 1 * MiB, 5 * MiB, 8 * MiB, 16 * MiB, 32 * MiB, 64 * MiB];
const DEFAULTS = { partSize: 8 * MiB, concurrency: 4, retries: 10, key: '' };
const STORE = {
  settings: 'partup.page.settings',
  unfinished: 'partup.page.unfinished',
  completed: 'partup.page.completed',
};
const PHASE_LABEL = {
  queued: 'Queued',
  asking: 'Needs your answer',
  initializing: 'Starting',
  uploading: 'Uploading',
  retrying: 'Retrying',
  paused: 'Paused',
  completing: 'Assembling',
  done: 'Done',
  failed: 'Failed',
  cancelled: 'Cancelled',
  declined: 'Not replaced',
};
const STATE_RANK = { retrying: 5, uploading: 4, hashing: 3 }; // what a grouped cell shows first

const $ = (selector, root = document) => root.querySelector(selector);

// ---------------------------------------------------------------- small helpers

function load(key, fallback) {
  try {
    const text = localStorage.getItem(key);
    return text ? JSON.parse(text) : fallback;
  } catch {
    return fallback; // private mode, a full or a throwing storage: the page works without it
  }
}

function save(key, value) {
  try {
    localStorage.setItem(key, JSON.stringify(value));
  } catch {
    // as above
  }
}

function formatBytes(n) {
  if (!Number.isFinite(n)) return '';
  if (n < KiB) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let value = n / KiB;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value >= 100 ? value.toFixed(0) : value.toFixed(1)} ${units[unit]}`;
}

function formatDuration(seconds) {
  if (seconds == null || !Number.isFinite(seconds)) return '';
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60 ? `${s % 60} s` : ''}`.trim();
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

function plural(n, word) {
  return `${n.toLocaleString('en')} ${word}${n === 1 ? '' : 's'}`;
}

/** `/v1/objects/<key>` with each segment percent-encoded. */
export function objectUrl(key) {
  return OBJECTS + key.split('/').map(encodeURIComponent).join('/');
}

function fingerprint(file) {
  return `${file.name}\n${file.size}\n${file.lastModified}`;
}

/** The sentence to show for an error, and a line of details (code, status, request id). */
export function describeError(error) {
  if (error == null) return { text: 'Something went wrong, and the browser did not say what.', detail: '' };
  const code = typeof error.code === 'string' ? error.code : '';
  let message = typeof error === 'string' ? error : error.message;
  if (typeof message !== 'string' || !message || message === '[object Object]') {
    try {
      message = JSON.stringify(error);
    } catch {
      message = String(error);
    }
  }
  message = message.replace(/^partup:\s*/, '');
  // The client appends "(Code, HTTP 400, requestId …)"; those go to the detail line instead.
  const tail = code ? message.lastIndexOf(` (${code}`) : -1;
  if (tail > 0 && message.endsWith(')')) message = message.slice(0, tail);
  message = message.replace(/^part (\d+): /, 'Part $1: ');
  const firstWord = message.split(/\s/, 1)[0];
  if (/^[a-z]/.test(message) && !/[A-Z]/.test(firstWord)) {
    message = message[0].toUpperCase() + message.slice(1);
  }
  if (!/[.!?]$/.test(message)) message += '.';

  let text = message;
  if (code === 'NetworkError') {
    text = 'The server could not be reached, even after retrying. Check that it is running and that you are online, then press “Try again”: the parts already sent are kept.';
  } else if (code === 'Timeout') {
    text = 'The connection stalled and did not recover. Press “Try again” to continue where it stopped.';
  } else if (code === 'InvalidObjectName') {
    text = `The server refused this resource key: ${message}`;
  } else if (code === 'FileReadError') {
    text = `The file could not be read: ${message} Choose it again if it changed on disk.`;
  }
  const detail = [
    code && `code ${code}`,
    error.status && `HTTP ${error.status}`,
    error.requestId && `request ${error.requestId}`,
    code === 'NetworkError' || code === 'Timeout' ? message : '',
  ].filter(Boolean).join(' · ');
  return { text, detail };
}

// ---------------------------------------------------------------- settings

const settingsForm = {
  partSize: $('#part-size'),
  concurrency: $('#concurrency'),
  retries: $('#retries'),
  key: $('#resource-key'),
};

for (const size of PART_SIZES) {
  const option = document.createElement('option');
  option.value = String(size);
  option.textContent = formatBytes(size);
  settingsForm.partSize.append(option);
}

function clampInt(value, min, max, fallback) {
  const n = Number.parseInt(value, 10);
  return Number.isFinite(n) ? Math.min(max, Math.max(min, n)) : fallback;
}

function readSettings() {
  return {
    partSize: clampInt(settingsForm.partSize.value, 1, 1 << 30, DEFAULTS.partSize),
    concurrency: clampInt(settingsForm.concurrency.value, 1, 16, DEFAULTS.concurrency),
    retries: clampInt(settingsForm.retries.value, 0, 100, DEFAULTS.retries),
    key: settingsForm.key.value.trim(),
  };
}

function showSettings(settings) {
  settingsForm.partSize.value = String(settings.partSize);
  if (!settingsForm.partSize.value) settingsForm.partSize.value = String(DEFAULTS.partSize);
  settingsForm.concurrency.value = String(settings.concurrency);
  settingsForm.retries.value = String(settings.retries);
  settingsForm.key.value = settings.key;
  $('#settings-summary').textContent =
    `${formatBytes(settings.partSize)} parts · ${settings.concurrency} at once · ${settings.retries} retries`;
}

showSettings({ ...DEFAULTS, ...load(STORE.settings, {}) });
for (const input of Object.values(settingsForm)) {
  input.addEventListener('change', () => {
    const settings = readSettings();
    showSettings(settings); // shows the clamped values
    save(STORE.settings, settings);
  });
}

/** The key for `file`: the setting, with `{name}` or a trailing `/` adding the file's name. */
function keyFor(file, template) {
  if (!template) return file.name;
  if (template.includes('{name}')) return template.replaceAll('{name}', file.name);
  if (template.endsWith('/')) return template + file.name;
  return template;
}

// One Uploader (one request queue) per combination of settings; uploads keep the one they began with.
let uploader = null;
let uploaderSettings = '';
function uploaderFor(settings) {
  const wanted = JSON.stringify([settings.partSize, settings.concurrency, settings.retries]);
  if (!uploader || wanted !== uploaderSettings) {
    uploader = new Uploader({
      endpoint: ENDPOINT,
      partSize: settings.partSize,
      concurrency: settings.concurrency,
      retries: settings.retries,
    });
    uploaderSettings = wanted;
  }
  return uploader;
}

// ---------------------------------------------------------------- the uploads

/** @type {Array<object>} every upload card on the page, in order */
const items = [];
let nextId = 1;

function addFiles(fileList) {
  const files = Array.from(fileList || []);
  if (!files.length) return;
  const settings = readSettings();
  const unfinished = load(STORE.unfinished, {});
  for (const file of files) {
    // A file that was being uploaded before a reload goes back to the same key, so it resumes.
    const earlier = unfinished[fingerprint(file)];
    const item = {
      id: nextId++,
      file,
      key: earlier ? earlier.key : keyFor(file, settings.key),
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
    item.el = createCard(item);
    items.push(item);
    $('#uploads').append(item.el.root);
    render(item);
  }
  $('#uploads-empty').hidden = true;
  renderUnfinished();
  pump();
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
  item.state = 'running';
  item.error = null;
  item.result = null;
  item.progress = null;
  item.init = null;
  item.startedAt = performance.now();
  let lastRemembered = 0;
  try {
    item.upload = uploaderFor(item.settings).upload(item.file, {
      resourceKey: item.key,
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
  if (error && error.code === 'Cancelled') {
    item.state = item.declined ? 'declined' : 'cancelled';
    forget(item);
  } else {
    item.state = 'failed';
    item.error = error;
    if (!(error instanceof Error)) console.error('partup: upload failed with', error);
  }
  if (item.ask) item.ask(false);
  render(item);
  renderUnfinished();
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

// ---------------------------------------------------------------- unfinished (for after a reload)

function remember(item) {
  const p = item.progress;
  const unfinished = load(STORE.unfinished, {});
  unfinished[fingerprint(item.file)] = {
    name: item.file.name,
    size: item.file.size,
    key: item.key,
    partsDone: p ? p.partsDone : 0,
    partsTotal: p ? p.partsTotal : item.init?.partsTotal ?? 0,
    bytesDone: p ? p.bytesDone : 0,
    at: Date.now(),
  };
  save(STORE.unfinished, unfinished);
}

function forget(item) {
  const unfinished = load(STORE.unfinished, {});
  if (delete unfinished[fingerprint(item.file)]) save(STORE.unfinished, unfinished);
}

function renderUnfinished() {
  const unfinished = load(STORE.unfinished, {});
  const here = new Set(items.map((i) => fingerprint(i.file))); // those have their own card
  const list = $('#unfinished-list');
  list.replaceChildren();
  for (const [fp, entry] of Object.entries(unfinished)) {
    if (here.has(fp)) continue;
    const li = document.createElement('li');
    const percent = entry.size ? Math.floor((100 * entry.bytesDone) / entry.size) : 0;
    const what = document.createElement('span');
    what.className = 'unfinished-what';
    what.innerHTML = '<strong></strong> <span class="muted"></span>';
    what.firstChild.textContent = entry.name;
    what.lastChild.textContent =
      `${formatBytes(entry.size)} · ${percent}% sent${entry.key !== entry.name ? ` · key ${entry.key}` : ''}`;
    const choose = document.createElement('label');
    choose.className = 'button';
    choose.htmlFor = 'file-input';
    choose.textContent = 'Choose it again';
    const drop = document.createElement('button');
    drop.type = 'button';
    drop.className = 'link-button';
    drop.textContent = 'Forget';
    drop.addEventListener('click', () => {
      const all = load(STORE.unfinished, {});
      delete all[fp];
      save(STORE.unfinished, all);
      renderUnfinished();
    });
    li.append(what, choose, drop);
    list.append(li);
  }
  $('#unfinished').hidden = list.children.length === 0;
}

// ---------------------------------------------------------------- completed

function addCompleted(entry) {
  const completed = load(STORE.completed, []).filter((e) => e.key !== entry.key);
  completed.unshift(entry);
  save(STORE.completed, completed.slice(0, 50));
  renderCompleted();
}

function renderCompleted() {
  const completed = load(STORE.completed, []);
  const list = $('#completed');
  list.replaceChildren();
  for (const entry of completed) {
    const li = document.createElement('li');
    li.dataset.key = entry.key;
    li.innerHTML = `
      <a class="download"></a>
      <span class="size"></span>
      <span class="parts-count"></span>
      <code class="etag"></code>
      <time></time>`;
    const link = $('a', li);
    link.href = objectUrl(entry.key);
    link.download = entry.key.split('/').pop();
    link.textContent = entry.key;
    link.title = `Download ${entry.key}`;
    $('.size', li).textContent = formatBytes(entry.size);
    $('.parts-count', li).textContent = plural(entry.parts, 'part');
    $('.etag', li).textContent = entry.etag;
    $('.etag', li).title = 'ETag: the MD5 of the parts\' MD5s, then the part count';
    const at = new Date(entry.at);
    $('time', li).dateTime = at.toISOString();
    $('time', li).textContent = at.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
    list.append(li);
  }
  $('#completed-empty').hidden = completed.length > 0;
  $('#clear-completed').hidden = completed.length === 0;
}

$('#clear-completed').addEventListener('click', () => {
  save(STORE.completed, []);
  renderCompleted();
});

// ---------------------------------------------------------------- rendering a card

function createCard(item) {
  const root = $('#upload-template').content.firstElementChild.cloneNode(true);
  const el = {
    root,
    name: $('.name', root),
    key: $('.key', root),
    badge: $('.badge', root),
    bar: $('.bar', root),
    fill: $('.bar-fill', root),
    percent: $('.percent', root),
    bytes: $('.bytes', root),
    speed: $('.speed', root),
    eta: $('.eta', root),
    retries: $('.retries', root),
    stats: $('.stats', root),
    note: $('.note', root),
    ask: $('.ask', root),
    askText: $('.ask-text', root),
    replace: $('.replace', root),
    keep: $('.keep', root),
    error: $('.error', root),
    errorText: $('.error-text', root),
    errorDetail: $('.error-detail', root),
    parts: $('.parts', root),
    grid: $('.grid', root),
    caption: $('.parts-caption', root),
    pause: $('.pause', root),
    resume: $('.resume', root),
    retry: $('.retry', root),
    download: $('.download', root),
    cancel: $('.cancel', root),
    dismiss: $('.dismiss', root),
  };
  root.dataset.id = String(item.id);
  root.dataset.key = item.key;
  el.name.textContent = item.file.name;
  el.name.title = item.file.name;
  if (item.key !== item.file.name) el.key.textContent = `→ ${item.key}`;
  el.key.title = `Resource key: ${item.key}`;
  el.pause.addEventListener('click', () => item.upload?.pause());
  el.resume.addEventListener('click', () => item.upload?.resume());
  el.cancel.addEventListener('click', () => cancel(item));
  el.retry.addEventListener('click', () => retry(item));
  el.dismiss.addEventListener('click', () => dismiss(item));
  el.replace.addEventListener('click', () => item.ask?.(true));
  el.keep.addEventListener('click', () => item.ask?.(false));
  return el;
}

function schedule(item) {
  if (item.renderQueued) return;
  item.renderQueued = true;
  requestAnimationFrame(() => {
    item.renderQueued = false;
    render(item);
  });
}

/** What the card shows: the page's own state, or the client's phase while it runs. */
function phaseOf(item) {
  if (item.state !== 'running') return item.state;
  if (item.ask) return 'asking';
  const p = item.progress;
  if (!p) return 'initializing';
  if (p.phase === 'uploading' && p.parts.includes('retrying')) return 'retrying';
  return p.phase;
}

function render(item) {
  const { el } = item;
  const p = item.progress;
  const phase = phaseOf(item);
  el.root.dataset.phase = phase;
  if (p) {
    // For scripts and tests: the numbers behind the picture.
    el.root.dataset.partsDone = String(phase === 'done' ? p.partsTotal : p.partsDone);
    el.root.dataset.partsTotal = String(p.partsTotal);
    el.root.dataset.skippedParts = String(item.result ? item.result.skippedParts : p.skippedParts);
  }
  el.badge.textContent = item.cancelling ? 'Cancelling' : PHASE_LABEL[phase] || phase;

  const total = p ? p.bytesTotal : item.file.size;
  const done = phase === 'done' ? total : p ? Math.min(p.bytesDone, total) : 0;
  const percent = phase === 'done' ? 100 : total > 0 ? Math.floor((100 * done) / total) : 0;
  el.fill.style.width = `${percent}%`;
  el.bar.setAttribute('aria-valuenow', String(percent));
  el.bar.setAttribute('aria-label', `${item.file.name}: ${percent}%`);
  el.percent.textContent = `${percent}%`;
  el.percent.hidden = phase === 'queued';
  el.bytes.textContent = phase === 'queued' ? formatBytes(total) : `${formatBytes(done)} of ${formatBytes(total)}`;

  let speed = '';
  let eta = '';
  if (phase === 'done' && item.result) {
    const seconds = Math.max(item.elapsed, 0.001);
    speed = `${formatBytes(item.result.size / seconds)}/s average`;
    eta = `took ${item.elapsed < 10 ? item.elapsed.toFixed(1) : Math.round(item.elapsed)} s`;
  } else if (p && (phase === 'uploading' || phase === 'retrying')) {
    speed = p.bytesPerSecond > 0 ? `${formatBytes(p.bytesPerSecond)}/s` : '';
    eta = p.etaSeconds != null ? `${formatDuration(p.etaSeconds)} left` : 'estimating…';
  } else if (phase === 'queued') {
    eta = 'waits for a free slot';
  } else if (phase === 'paused') {
    eta = 'paused: finished parts stay on the server';
  } else if (phase === 'completing') {
    eta = 'assembling the parts on the server…';
  }
  el.speed.textContent = speed;
  el.eta.textContent = eta;
  el.speed.hidden = !speed;
  el.eta.hidden = !eta;
  el.retries.textContent = p && p.retries > 0 ? (p.retries === 1 ? '1 retry' : `${p.retries.toLocaleString('en')} retries`) : '';
  el.retries.hidden = !el.retries.textContent;
  // Nothing was (or is being) sent: the bar and the numbers would only be noise.
  el.bar.hidden = ['asking', 'declined', 'cancelled'].includes(phase);
  el.stats.hidden = el.bar.hidden;

  renderNote(item, phase);

  el.ask.hidden = !item.ask;
  if (item.ask) {
    el.askText.textContent =
      `An object named “${item.key}” already exists on the server. Upload this file and replace it?`;
  }

  el.error.hidden = phase !== 'failed';
  if (phase === 'failed') {
    const { text, detail } = describeError(item.error);
    el.errorText.textContent = text;
    el.errorDetail.textContent = detail;
    el.errorDetail.hidden = !detail;
  }

  renderGrid(item, phase);

  const running = item.state === 'running' && !item.cancelling;
  el.pause.hidden = !(running && !item.ask && phase !== 'paused' && phase !== 'completing');
  el.resume.hidden = !(running && phase === 'paused');
  el.cancel.hidden = !((running && !item.ask) || phase === 'queued'); // asking: "keep" is the cancel
  el.retry.hidden = phase !== 'failed';
  el.dismiss.hidden = !['done', 'failed', 'cancelled', 'declined'].includes(phase);
  el.download.hidden = phase !== 'done';
  if (phase === 'done') {
    el.download.href = objectUrl(item.key);
    el.download.download = item.key.split('/').pop();
  }
}

function renderNote(item, phase) {
  const p = item.progress;
  const notes = [];
  const skipped = item.result ? item.result.skippedParts : p ? p.skippedParts : 0;
  if (item.init?.resumed || skipped > 0) {
    const total = item.result ? item.result.parts : p ? p.partsTotal : item.init.partsTotal;
    notes.push(skipped > 0
      ? `Resumed: ${plural(skipped, 'part')} of ${total} were already on the server and were not sent again.`
      : `Resuming an earlier upload: the server has ${plural(item.init.partsOnServer, 'part')} of ${total}; checking them…`);
  }
  if (phase === 'done' && item.result) {
    notes.push(item.result.existed ? `Replaced the earlier “${item.key}”.` : '');
    notes.push('Verified: the size and ETag the server computed match the file.');
  }
  if (phase === 'cancelled') notes.push('Cancelled. Nothing of it is left on the server.');
  if (phase === 'declined') notes.push(`Kept the existing “${item.key}”; this file was not uploaded.`);
  const text = notes.filter(Boolean).join(' ');
  item.el.note.textContent = text;
  item.el.note.hidden = !text;
}

function renderGrid(item, phase) {
  const { el } = item;
  const p = item.progress;
  const states = p?.parts;
  if (!states || !states.length || ['asking', 'cancelled', 'declined'].includes(phase)) {
    el.parts.hidden = true;
    return;
  }
  el.parts.hidden = false;
  const perCell = Math.ceil(states.length / MAX_CELLS);
  const count = Math.ceil(states.length / perCell);
  if (item.cells.length !== count) {
    el.grid.replaceChildren();
    item.cells = [];
    el.grid.classList.toggle('big', count <= 48);
    for (let i = 0; i < count; i++) {
      const cell = document.createElement('i');
      const first = i * perCell + 1;
      const last = Math.min(states.length, first + perCell - 1);
      cell.title = first === last ? `part ${first}` : `parts ${first}–${last}`;
      cell.className = 'cell waiting';
      el.grid.append(cell);
      item.cells.push({ cell, state: 'waiting' });
    }
  }
  let inFlight = 0;
  let retrying = 0;
  const running = item.state === 'running' && phase !== 'paused';
  for (let i = 0; i < count; i++) {
    let best = '';
    let done = 0;
    const end = Math.min(states.length, (i + 1) * perCell);
    for (let j = i * perCell; j < end; j++) {
      // Once it stopped, nothing is in flight any more: what is not done is waiting.
      const s = phase === 'done' ? 'done' : !running && states[j] !== 'done' ? 'waiting' : states[j];
      if (s === 'done') done += 1;
      if (s === 'uploading') inFlight += 1;
      if (s === 'retrying') retrying += 1;
      if ((STATE_RANK[s] || 0) > (STATE_RANK[best] || 0)) best = s;
    }
    const n = end - i * perCell;
    const state = best || (done === n ? 'done' : done > 0 ? 'partly' : 'waiting');
    const slot = item.cells[i];
    if (slot.state !== state) {
      slot.state = state;
      slot.cell.className = `cell ${state}`;
    }
  }
  const partSize = item.init?.partSize;
  const bits = [
    `${plural(p.partsDone, 'part')} of ${p.partsTotal} done`,
    partSize ? `${formatBytes(partSize)} each` : '',
    phase !== 'done' && inFlight ? `${inFlight} in flight` : '',
    phase !== 'done' && retrying ? `${retrying} about to retry` : '',
    perCell > 1 ? `1 square = ${perCell} parts` : '',
  ];
  el.caption.textContent = bits.filter(Boolean).join(' · ');
}

// ---------------------------------------------------------------- picking and dropping

const fileInput = $('#file-input');
fileInput.addEventListener('change', () => {
  addFiles(fileInput.files);
  fileInput.value = ''; // so choosing the same file again fires `change` again
});

const overlay = $('#drop-overlay');
let dragDepth = 0;
const carriesFiles = (event) => Array.from(event.dataTransfer?.types || []).includes('Files');
document.addEventListener('dragenter', (event) => {
  if (!carriesFiles(event)) return;
  event.preventDefault();
  dragDepth += 1;
  overlay.hidden = false;
});
document.addEventListener('dragover', (event) => {
  if (!carriesFiles(event)) return;
  event.preventDefault();
  event.dataTransfer.dropEffect = 'copy';
});
document.addEventListener('dragleave', () => {
  dragDepth = Math.max(0, dragDepth - 1);
  if (dragDepth === 0) overlay.hidden = true;
});
document.addEventListener('drop', (event) => {
  event.preventDefault();
  dragDepth = 0;
  overlay.hidden = true;
  addFiles(event.dataTransfer?.files);
});

// ---------------------------------------------------------------- start

renderCompleted();
renderUnfinished();
window.addEventListener('beforeunload', () => items.filter((i) => i.state === 'running').forEach(remember));

try {
  const pkg = await import('./pkg/partup.js');
  await pkg.default();
  Uploader = pkg.Uploader;
  document.body.dataset.ready = 'true';
  pump();
} catch (error) {
  const box = $('#page-error');
  box.textContent = `The uploader could not start: ${describeError(error).text} ` +
    'If www/pkg/ is missing, run scripts/build-client.sh.';
  box.hidden = false;
  fileInput.disabled = true;
}
