// One upload's card: its bar, numbers, note, question, error and part grid, drawn from the
// upload's state. Knows nothing of the queue: the card's buttons call the `actions` it is given.
import { withReadToken } from './auth.js';
import { $, formatBytes, formatDuration, objectUrl, plural } from './format.js';
import { describeError } from './errors.js';

const MAX_CELLS = 240; // cells in a part grid at most; past that one cell stands for several parts
const PHASE_LABEL = {
  queued: 'Queued',
  asking: 'Needs your answer',
  initializing: 'Starting',
  hashing: 'Checking',
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
const CARD_PARTS = ['name', 'key', 'badge', 'bar', 'percent', 'bytes', 'speed', 'eta', 'retries',
  'stats', 'note', 'instant', 'direct', 'ask', 'replace', 'keep', 'error', 'parts', 'grid', 'pause', 'resume', 'retry',
  'download', 'cancel', 'dismiss'];

/** A card for `item`; `actions` has pause, resume, cancel, retry, dismiss and answer(replace). */
export function createCard(item, actions) {
  const root = $('#upload-template').content.firstElementChild.cloneNode(true);
  const el = { root };
  for (const part of CARD_PARTS) el[part] = $(`.${part}`, root);
  Object.assign(el, {
    fill: $('.bar-fill', root),
    askText: $('.ask-text', root),
    errorText: $('.error-text', root),
    errorDetail: $('.error-detail', root),
    caption: $('.parts-caption', root),
  });
  root.dataset.id = String(item.id);
  el.name.textContent = item.file.name;
  el.name.title = item.file.name;
  renderKey(item, el);
  for (const action of ['pause', 'resume', 'cancel', 'retry', 'dismiss']) {
    el[action].addEventListener('click', () => actions[action](item));
  }
  el.replace.addEventListener('click', () => actions.answer(item, true));
  el.keep.addEventListener('click', () => actions.answer(item, false));
  return el;
}

/** The key beside the name. It can change once before the file starts: a file added while the
 *  server's list of unfinished uploads loads takes the key of the upload it resumes. */
function renderKey(item, el) {
  if (el.root.dataset.key === item.key) return;
  el.root.dataset.key = item.key;
  el.key.textContent = item.key !== item.file.name ? `→ ${item.key}` : '';
  el.key.title = `Resource key: ${item.key}`;
}

/** Redraws the card at the next frame (once, however often it is asked). */
export function schedule(item) {
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

/** The speed and time texts under the bar. */
function speedAndEta(item, phase) {
  const p = item.progress;
  if (phase === 'done' && item.result) {
    const seconds = Math.max(item.elapsed, 0.001);
    return {
      // An instant upload sent no byte: no speed to speak of.
      speed: item.result.instant ? '' : `${formatBytes(item.result.size / seconds)}/s average`,
      eta: `took ${item.elapsed < 10 ? item.elapsed.toFixed(1) : Math.round(item.elapsed)} s`,
    };
  }
  if (p && (phase === 'uploading' || phase === 'retrying')) {
    return {
      speed: p.bytesPerSecond > 0 ? `${formatBytes(p.bytesPerSecond)}/s` : '',
      eta: p.etaSeconds != null ? `${formatDuration(p.etaSeconds)} left` : 'estimating…',
    };
  }
  const eta = {
    queued: 'waits for a free slot',
    paused: 'paused: finished parts stay on the server',
    hashing: 'checking whether the server has it…',
    completing: 'assembling the parts on the server…',
  }[phase] || '';
  return { speed: '', eta };
}

function renderStats(item, phase) {
  const { el } = item;
  const p = item.progress;
  const total = p ? p.bytesTotal : item.file.size;
  // Instant upload's pass before anything is sent: the bar shows the bytes hashed.
  const hashing = phase === 'hashing' && p;
  const done = phase === 'done' ? total : hashing ? p.bytesHashed : p ? Math.min(p.bytesDone, total) : 0;
  const percent = phase === 'done' ? 100 : total > 0 ? Math.floor((100 * done) / total) : 0;
  el.fill.style.width = `${percent}%`;
  el.bar.setAttribute('aria-valuenow', String(percent));
  el.bar.setAttribute('aria-label', `${item.file.name}: ${percent}%`);
  el.percent.textContent = `${percent}%`;
  el.percent.hidden = phase === 'queued';
  el.bytes.textContent = phase === 'queued' ? formatBytes(total)
    : `${formatBytes(done)} of ${formatBytes(total)}${hashing ? ' hashed' : ''}`;
  const { speed, eta } = speedAndEta(item, phase);
  el.speed.textContent = speed;
  el.eta.textContent = eta;
  el.speed.hidden = !speed;
  el.eta.hidden = !eta;
  el.retries.textContent = p && p.retries > 0 ? (p.retries === 1 ? '1 retry' : `${p.retries.toLocaleString('en')} retries`) : '';
  el.retries.hidden = !el.retries.textContent;
  // Nothing was (or is being) sent: the bar and the numbers would only be noise.
  el.bar.hidden = ['asking', 'declined', 'cancelled'].includes(phase);
  el.stats.hidden = el.bar.hidden;
}

function renderButtons(item, phase) {
  const { el } = item;
  const running = item.state === 'running' && !item.cancelling;
  el.pause.hidden = !(running && !item.ask && phase !== 'paused' && phase !== 'completing');
  el.resume.hidden = !(running && phase === 'paused');
  el.cancel.hidden = !((running && !item.ask) || phase === 'queued'); // asking: "keep" is the cancel
  el.retry.hidden = phase !== 'failed';
  el.dismiss.hidden = !['done', 'failed', 'cancelled', 'declined'].includes(phase);
  el.download.hidden = phase !== 'done';
  if (phase === 'done') {
    el.download.href = withReadToken(objectUrl(item.key));
    el.download.download = item.key.split('/').pop();
  }
}

export function render(item) {
  const { el } = item;
  const p = item.progress;
  const phase = phaseOf(item);
  renderKey(item, el);
  el.root.dataset.phase = phase;
  const resumedFrom = resumedFromOf(item);
  if (resumedFrom) el.root.dataset.resumedFrom = resumedFrom;
  else delete el.root.dataset.resumedFrom;
  el.root.dataset.refusedMatches = refusedMatchesOf(item).join(' '); // their uploadIds
  if (p) {
    // For scripts and tests: the numbers behind the picture.
    el.root.dataset.partsDone = String(phase === 'done' ? p.partsTotal : p.partsDone);
    el.root.dataset.partsTotal = String(p.partsTotal);
    el.root.dataset.skippedParts = String(item.result ? item.result.skippedParts : p.skippedParts);
  }
  el.instant.hidden = !(phase === 'done' && item.result?.instant);
  // The server said at uploadInit that the parts go straight to the store (SPEC.md §6).
  el.direct.hidden = !(item.init?.direct || item.result?.direct);
  el.badge.textContent = item.cancelling ? 'Cancelling' : PHASE_LABEL[phase] || phase;
  renderStats(item, phase);
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
  renderButtons(item, phase);
}

/** Where the upload resumed from: 'local' (this browser's memory), 'server' (an upload the server
 *  listed), or null. A client without `resumedFrom` only says `resumed` (from its memory). */
function resumedFromOf(item) {
  const info = item.result ?? item.init;
  if (!info) return null;
  if (info.resumedFrom !== undefined) return info.resumedFrom;
  return info.resumed ? 'local' : null;
}

/** Uploads on the server whose metadata matched this file but whose stored parts did not. */
function refusedMatchesOf(item) {
  return (item.result ?? item.init)?.refusedMatches ?? [];
}

function renderNote(item, phase) {
  const p = item.progress;
  const notes = [];
  const skipped = item.result ? item.result.skippedParts : p ? p.skippedParts : 0;
  const resumedFrom = resumedFromOf(item);
  const total = item.result ? item.result.parts : p ? p.partsTotal : item.init?.partsTotal;
  if (resumedFrom === 'server') {
    // The client checked the stored parts' MD5s before it took the upload: those it skips are
    // the ones already there (none, for an upload that had stored nothing yet).
    notes.push(`Resumed from the server: ${skipped.toLocaleString('en')} of ${plural(total, 'part')} already there` +
      (skipped > 0 ? ', not sent again.' : '.'));
  } else if (resumedFrom || skipped > 0) {
    notes.push(skipped > 0
      ? `Resumed: ${plural(skipped, 'part')} of ${total} were already on the server and were not sent again.`
      : `Resuming an earlier upload: the server has ${plural(item.init.partsOnServer, 'part')} of ${total}; checking them…`);
  }
  const refused = refusedMatchesOf(item).length;
  if (refused > 0) {
    notes.push(refused === 1
      ? 'A server upload with the same name and size held different content; this file started fresh.'
      : `${refused} server uploads with the same name and size held different content; this file started fresh.`);
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

/** (Re)builds the grid's cells when their number changes. */
function gridCells(item, partCount) {
  const { el } = item;
  const perCell = Math.ceil(partCount / MAX_CELLS);
  const count = Math.ceil(partCount / perCell);
  if (item.cells.length !== count) {
    el.grid.replaceChildren();
    item.cells = [];
    el.grid.classList.toggle('big', count <= 48);
    for (let i = 0; i < count; i++) {
      const cell = document.createElement('i');
      const first = i * perCell + 1;
      const last = Math.min(partCount, first + perCell - 1);
      cell.title = first === last ? `part ${first}` : `parts ${first}–${last}`;
      cell.className = 'cell waiting';
      el.grid.append(cell);
      item.cells.push({ cell, state: 'waiting' });
    }
  }
  return perCell;
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
  const perCell = gridCells(item, states.length);
  let inFlight = 0;
  let retrying = 0;
  const running = item.state === 'running' && phase !== 'paused';
  item.cells.forEach((slot, i) => {
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
    if (slot.state !== state) {
      slot.state = state;
      slot.cell.className = `cell ${state}`;
    }
  });
  const partSize = item.init?.partSize;
  el.caption.textContent = [
    `${plural(p.partsDone, 'part')} of ${p.partsTotal} done`,
    partSize ? `${formatBytes(partSize)} each` : '',
    phase !== 'done' && inFlight ? `${inFlight} in flight` : '',
    phase !== 'done' && retrying ? `${retrying} about to retry` : '',
    perCell > 1 ? `1 square = ${perCell} parts` : '',
  ].filter(Boolean).join(' · ');
}
