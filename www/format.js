// How the page writes sizes, durations, counts and object links.

export const KiB = 1024;
export const MiB = 1024 * KiB;
const OBJECTS = '/v1/objects/';

export function formatBytes(n) {
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

export function formatDuration(seconds) {
  if (seconds == null || !Number.isFinite(seconds)) return '';
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60 ? `${s % 60} s` : ''}`.trim();
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

export function plural(n, word) {
  return `${n.toLocaleString('en')} ${word}${n === 1 ? '' : 's'}`;
}

/** `/v1/objects/<key>` with each segment percent-encoded. */
export function objectUrl(key) {
  return OBJECTS + key.split('/').map(encodeURIComponent).join('/');
}

export const $ = (selector, root = document) => root.querySelector(selector);
