// The three engines the page is tested in, and the W3C WebDriver capabilities of one fresh session
// of each. scripts/test-page.sh starts the engine's driver (chromedriver, geckodriver,
// WebKitWebDriver under Xvfb) and tells the tests which engine it is (PARTUP_BROWSER) and where its
// driver listens (PARTUP_WEBDRIVER_URL). Every session gets a new profile: nothing (storage,
// cookies, cache) carries over from one test to the next.

export const ENGINES = ['chromium', 'firefox', 'webkit'];

export const ENGINE = process.env.PARTUP_BROWSER || 'chromium';
if (!ENGINES.includes(ENGINE)) throw new Error(`PARTUP_BROWSER=${ENGINE}: expected one of ${ENGINES.join(', ')}`);

export const WEBDRIVER_URL = process.env.PARTUP_WEBDRIVER_URL;

// Chromium's own background traffic (updates, sync, field trials) stays off: test traffic stays on
// loopback.
const CHROMIUM_ARGS = ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage',
  '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];

// Firefox asks the network for safe-browsing lists, download reputation, remote settings, captive
// portal and connectivity checks, add-on and search updates; geckodriver turns many of these off,
// these prefs the rest. Popups opened by a script stay allowed (the downloads suite opens one).
const FIREFOX_PREFS = {
  'browser.safebrowsing.malware.enabled': false,
  'browser.safebrowsing.phishing.enabled': false,
  'browser.safebrowsing.blockedURIs.enabled': false,
  'browser.safebrowsing.downloads.enabled': false,
  'browser.safebrowsing.downloads.remote.enabled': false,
  'browser.safebrowsing.update.enabled': false,
  'network.captive-portal-service.enabled': false,
  'network.connectivity-service.enabled': false,
  'network.dns.disablePrefetch': true,
  'network.prefetch-next': false,
  'network.http.speculative-parallel-limit': 0,
  'services.settings.server': 'http://127.0.0.1:9/remote-settings-off',
  'extensions.getAddons.cache.enabled': false,
  'extensions.update.enabled': false,
  'app.normandy.enabled': false,
  'browser.search.update': false,
  'browser.region.update.enabled': false,
  'datareporting.policy.dataSubmissionEnabled': false,
  'toolkit.telemetry.enabled': false,
  'dom.disable_open_during_load': false,
  // JSON (the downloads suite's origin page is /healthz) shown as the plain document it is, not
  // replaced by Firefox's JSON viewer.
  'devtools.jsonview.enabled': false,
};

const MINIBROWSER = '/usr/lib/x86_64-linux-gnu/webkit2gtk-4.1/MiniBrowser';

/**
 * Capabilities for a new session of `engine`. Downloads go to `downloadDir` without asking
 * (Chromium and Firefox take it per session; MiniBrowser always saves into the download directory
 * of the driver's $HOME, which the script points at PARTUP_WEBKIT_DOWNLOADS).
 * `pageLoadStrategy: 'none'` makes navigation return at once (see browser.mjs `goto`).
 */
export function capabilities(engine, { downloadDir, pageLoadStrategy = 'normal' }) {
  const common = { pageLoadStrategy, timeouts: { script: 120_000, pageLoad: 60_000 } };
  if (engine === 'chromium') {
    return {
      ...common,
      browserName: 'chrome',
      'goog:chromeOptions': {
        binary: '/usr/bin/chromium',
        args: CHROMIUM_ARGS,
        prefs: {
          'download.default_directory': downloadDir,
          'download.prompt_for_download': false,
          // Several downloads from one page without a click each (the downloads suite) are allowed.
          'profile.default_content_setting_values.automatic_downloads': 1,
        },
      },
    };
  }
  if (engine === 'firefox') {
    return {
      ...common,
      browserName: 'firefox',
      'moz:firefoxOptions': {
        binary: '/usr/bin/firefox-esr',
        args: ['-headless'],
        prefs: {
          ...FIREFOX_PREFS,
          'browser.download.folderList': 2,
          'browser.download.dir': downloadDir,
          'browser.download.useDownloadDir': true,
          'browser.download.always_ask_before_handling_new_types': false,
          'browser.helperApps.neverAsk.saveToDisk': 'application/octet-stream,text/html,image/svg+xml',
          'browser.download.panel.shown': true,
        },
      },
    };
  }
  return {
    ...common,
    browserName: 'MiniBrowser',
    'webkitgtk:browserOptions': {
      binary: MINIBROWSER,
      // Without it WebKit refuses window.open from a script (no click), which the downloads suite
      // and the narrow-window fallback use; Chromium's and Firefox's drivers allow it by default.
      args: ['--automation', '--javascript-can-open-windows-automatically=true'],
    },
  };
}
