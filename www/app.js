// partup's demo page: pick or drop files, watch their parts go up, pause, resume, cancel, and pick
// an upload up again after a reload, or in another browser. Plain ES modules over the wasm client
// in ./pkg/:
//   queue.js (the uploads and their states) · card.js (drawing one upload) · server-list.js
//   (unfinished uploads the server lists) · resume-list.js (unfinished uploads this browser
//   remembers) · completed.js · settings.js · errors.js (what a failure says) · format.js ·
//   storage.js (localStorage) · auth.js (upload tokens, with ?tokenUrl=).
// The client is imported dynamically so that a missing build shows a message instead of a blank page.
import { $ } from './format.js';
import { describeError } from './errors.js';
import { initCompleted } from './completed.js';
import { initSettings } from './settings.js';
import { addFiles, clientMissing, clientReady, rememberRunning, showUnfinished } from './queue.js';
import { initAuth } from './auth.js';

const fileInput = $('#file-input');

function listenForFiles() {
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
}

initSettings();
try {
  await initAuth();
} catch (error) {
  const box = $('#page-error');
  box.textContent = `No upload token: ${describeError(error).text}`;
  box.hidden = false;
}
listenForFiles();
initCompleted();
showUnfinished();
window.addEventListener('beforeunload', rememberRunning);

try {
  const pkg = await import('./pkg/partup.js');
  await pkg.default();
  document.body.dataset.ready = 'true';
  clientReady(pkg.Uploader);
} catch (error) {
  const box = $('#page-error');
  box.textContent = `The uploader could not start: ${describeError(error).text} ` +
    'If www/pkg/ is missing, run scripts/build-client.sh.';
  box.hidden = false;
  fileInput.disabled = true;
  clientMissing();
}
