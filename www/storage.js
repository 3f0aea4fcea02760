// The page's own memory in localStorage: settings, unfinished uploads, completed uploads.
// Private mode, a full or a throwing storage: the page works without it.

export const STORE = {
  settings: 'partup.page.settings',
  unfinished: 'partup.page.unfinished',
  completed: 'partup.page.completed',
};

export function load(key, fallback) {
  try {
    const text = localStorage.getItem(key);
    return text ? JSON.parse(text) : fallback;
  } catch {
    return fallback;
  }
}

export function save(key, value) {
  try {
    localStorage.setItem(key, JSON.stringify(value));
  } catch {
    // as above
  }
}
