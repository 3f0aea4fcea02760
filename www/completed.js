// The list of completed uploads, with download links (kept across visits).
import { withReadToken } from './auth.js';
import { $, formatBytes, objectUrl, plural } from './format.js';
import { STORE, load, save } from './storage.js';

export function addCompleted(entry) {
  const completed = load(STORE.completed, []).filter((e) => e.key !== entry.key);
  completed.unshift(entry);
  save(STORE.completed, completed.slice(0, 50));
  renderCompleted();
}

function completedRow(entry) {
  const li = document.createElement('li');
  li.dataset.key = entry.key;
  li.innerHTML = `
    <a class="download"></a>
    <span class="size"></span>
    <span class="parts-count"></span>
    <code class="etag"></code>
    <time></time>`;
  const link = $('a', li);
  link.href = withReadToken(objectUrl(entry.key));
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
  return li;
}

function renderCompleted() {
  const completed = load(STORE.completed, []);
  $('#completed').replaceChildren(...completed.map(completedRow));
  $('#completed-empty').hidden = completed.length > 0;
  $('#clear-completed').hidden = completed.length === 0;
}

/** Shows the list and wires its "Clear list" button. */
export function initCompleted() {
  $('#clear-completed').addEventListener('click', () => {
    save(STORE.completed, []);
    renderCompleted();
  });
  renderCompleted();
}
