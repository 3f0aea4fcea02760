// The settings panel (part size, parallel requests, retries, resource key, instant upload), remembered across
// visits, and one Uploader per combination of them.
import { $, formatBytes, KiB, MiB } from './format.js';
import { STORE, load, save } from './storage.js';
import { tokenHeaders } from './auth.js';

const PART_SIZES = [256 * KiB, 1 * MiB, 5 * MiB, 8 * MiB, 16 * MiB, 32 * MiB, 64 * MiB];
const DEFAULTS = { partSize: 8 * MiB, concurrency: 4, retries: 10, key: '', instant: false };

const settingsForm = {
  partSize: $('#part-size'),
  concurrency: $('#concurrency'),
  retries: $('#retries'),
  key: $('#resource-key'),
  instant: $('#instant'),
};

function clampInt(value, min, max, fallback) {
  const n = Number.parseInt(value, 10);
  return Number.isFinite(n) ? Math.min(max, Math.max(min, n)) : fallback;
}

export function readSettings() {
  return {
    partSize: clampInt(settingsForm.partSize.value, 1, 1 << 30, DEFAULTS.partSize),
    concurrency: clampInt(settingsForm.concurrency.value, 1, 16, DEFAULTS.concurrency),
    retries: clampInt(settingsForm.retries.value, 0, 100, DEFAULTS.retries),
    key: settingsForm.key.value.trim(),
    instant: settingsForm.instant.checked,
  };
}

function showSettings(settings) {
  settingsForm.partSize.value = String(settings.partSize);
  if (!settingsForm.partSize.value) settingsForm.partSize.value = String(DEFAULTS.partSize);
  settingsForm.concurrency.value = String(settings.concurrency);
  settingsForm.retries.value = String(settings.retries);
  settingsForm.key.value = settings.key;
  settingsForm.instant.checked = settings.instant === true;
  $('#settings-summary').textContent =
    `${formatBytes(settings.partSize)} parts · ${settings.concurrency} at once · ${settings.retries} retries` +
    (settings.instant ? ' · instant' : '');
}

/** Fills the panel from what was saved, and saves every change. */
export function initSettings() {
  for (const size of PART_SIZES) {
    const option = document.createElement('option');
    option.value = String(size);
    option.textContent = formatBytes(size);
    settingsForm.partSize.append(option);
  }
  showSettings({ ...DEFAULTS, ...load(STORE.settings, {}) });
  for (const input of Object.values(settingsForm)) {
    input.addEventListener('change', () => {
      const settings = readSettings();
      showSettings(settings); // shows the clamped values
      save(STORE.settings, settings);
    });
  }
}

/** The key for `file`: the setting, with `{name}` or a trailing `/` adding the file's name. */
export function keyFor(file, template) {
  if (!template) return file.name;
  if (template.includes('{name}')) return template.replaceAll('{name}', file.name);
  if (template.endsWith('/')) return template + file.name;
  return template;
}

// One Uploader (one request queue) per combination of settings; uploads keep the one they began with.
let uploader = null;
let uploaderSettings = '';

/** The Uploader (the wasm client's class `Uploader`) for these settings. */
export function uploaderFor(Uploader, endpoint, settings) {
  const wanted = JSON.stringify([settings.partSize, settings.concurrency, settings.retries]);
  if (!uploader || wanted !== uploaderSettings) {
    uploader = new Uploader({
      endpoint,
      partSize: settings.partSize,
      concurrency: settings.concurrency,
      retries: settings.retries,
      ...(tokenHeaders() ? { headers: tokenHeaders() } : {}),
    });
    uploaderSettings = wanted;
  }
  return uploader;
}
