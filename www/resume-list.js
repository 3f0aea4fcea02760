// "Unfinished in this browser": what was being uploaded before a reload, so the same file can be
// chosen again (the wasm client then resumes it). Kept in localStorage by the file's fingerprint.
// Uploads the server lists (server-list.js) are offered there, with the server's numbers, not here.
import { $, formatBytes } from './format.js';
import { STORE, load, save } from './storage.js';

function fingerprint(file) {
  return `${file.name}\n${file.size}\n${file.lastModified}`;
}

/** The key an earlier upload of `file` used, if it did not finish. */
export function earlierKey(file) {
  return load(STORE.unfinished, {})[fingerprint(file)]?.key;
}

/** Notes how far the upload of `item` got. */
export function remember(item) {
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

export function forget(item) {
  const unfinished = load(STORE.unfinished, {});
  if (delete unfinished[fingerprint(item.file)]) save(STORE.unfinished, unfinished);
}

function unfinishedRow(entry, onForget) {
  const li = document.createElement('li');
  li.dataset.key = entry.key;
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
  drop.addEventListener('click', onForget);
  li.append(what, choose, drop);
  return li;
}

/** Lists the unfinished uploads, except those of the files `filesOnPage()` returns (they have
 *  their own card) and those `listedOnServer(entry)` says the server's list shows. */
export function renderUnfinished(filesOnPage, listedOnServer = () => false) {
  const unfinished = load(STORE.unfinished, {});
  const here = new Set(filesOnPage().map(fingerprint));
  const list = $('#unfinished-list');
  list.replaceChildren();
  for (const [fp, entry] of Object.entries(unfinished)) {
    if (here.has(fp) || listedOnServer(entry)) continue;
    list.append(unfinishedRow(entry, () => {
      const all = load(STORE.unfinished, {});
      delete all[fp];
      save(STORE.unfinished, all);
      renderUnfinished(filesOnPage, listedOnServer);
    }));
  }
  $('#unfinished').hidden = list.children.length === 0;
}
