'use strict';
/** The script project: manifest, clasp files, file layout, menu and sidebar. */
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');

const { loadAddon, ROOT, ADDON_DIR } = require('./helpers/loader');

const read = (rel) => fs.readFileSync(path.join(ROOT, rel), 'utf8');
const gsFiles = () => fs.readdirSync(ADDON_DIR).filter((f) => f.endsWith('.gs'));

test('appsscript.json: V8, Stackdriver logging, exactly the minimal scopes, an https allowlist', () => {
  const manifest = JSON.parse(read('appsscript.json'));
  assert.equal(manifest.runtimeVersion, 'V8');
  assert.equal(manifest.exceptionLogging, 'STACKDRIVER');
  assert.deepEqual([...manifest.oauthScopes].sort(), [
    'https://www.googleapis.com/auth/script.container.ui',
    'https://www.googleapis.com/auth/script.external_request',
    'https://www.googleapis.com/auth/script.scriptapp',
    'https://www.googleapis.com/auth/spreadsheets.currentonly',
    'https://www.googleapis.com/auth/userinfo.email',
    'openid',
  ]);
  assert.ok(Array.isArray(manifest.urlFetchWhitelist) && manifest.urlFetchWhitelist.length > 0);
  for (const prefix of manifest.urlFetchWhitelist) {
    assert.match(prefix, /^https:\/\/[^/]+\/.*$/, `allowlist prefix ${prefix} must be https and end its host with /`);
  }
});

test('.clasp.json.example points clasp at the repo root with a placeholder script id', () => {
  const clasp = JSON.parse(read('.clasp.json.example'));
  assert.equal(clasp.rootDir, '.');
  assert.match(clasp.scriptId, /^[A-Z_]+$/);
});

/**
 * Evaluates .claspignore the way clasp does (later patterns win, "!" re-includes).
 * @param {string} file a repo-relative path.
 * @param {Array<string>} patterns the ignore file's patterns.
 * @return {boolean} true when clasp would not push the file.
 */
function ignored(file, patterns) {
  const toRegex = (glob) => new RegExp(`^${glob
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*\*\/?/g, '\u0000')
    .replace(/\*/g, '[^/]*')
    .replace(/\?/g, '[^/]')
    .replace(/\u0000/g, '.*')}$`);
  let result = false;
  for (const pattern of patterns) {
    const negated = pattern.startsWith('!');
    if (toRegex(negated ? pattern.slice(1) : pattern).test(file)) result = !negated;
  }
  return result;
}

/** Every file under the repo except VCS, dependencies and virtualenvs. */
function repoFiles(dir = ROOT, prefix = '') {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    if (['.git', 'node_modules', '.venv', '__pycache__'].includes(entry.name)) return [];
    const rel = prefix + entry.name;
    return entry.isDirectory() ? repoFiles(path.join(dir, entry.name), `${rel}/`) : [rel];
  });
}

test('.claspignore pushes only appsscript.json and addon/**', () => {
  const patterns = read('.claspignore').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  const pushed = repoFiles().filter((file) => !ignored(file, patterns));
  const expected = ['appsscript.json', ...fs.readdirSync(ADDON_DIR).map((f) => `addon/${f}`)].sort();
  assert.deepEqual(pushed.sort(), expected);
  assert.ok(ignored('backend/app.py', patterns));
  assert.ok(ignored('tests/addon/build_payload.js', patterns));
  assert.ok(ignored('package.json', patterns));
});

test('every function in addon/*.gs has a JSDoc comment', () => {
  for (const file of gsFiles()) {
    const lines = read(`addon/${file}`).split('\n');
    lines.forEach((line, i) => {
      const m = /^\s*(?:function\s+(\w+)\s*\(|(constructor)\s*\()/.exec(line);
      if (!m) return;
      let j = i - 1;
      while (j >= 0 && lines[j].trim() === '') j--;
      assert.ok(j >= 0 && lines[j].trim().endsWith('*/'), `${file}:${i + 1} ${m[1] || m[2]} has no JSDoc`);
    });
  }
});

test('one file per concern: only Api.gs fetches, only Config.gs touches properties', () => {
  for (const file of gsFiles()) {
    const source = read(`addon/${file}`);
    if (file !== 'Api.gs') assert.doesNotMatch(source, /UrlFetchApp\./, `${file} calls UrlFetchApp`);
    if (file !== 'Config.gs') assert.doesNotMatch(source, /PropertiesService\./, `${file} uses PropertiesService`);
    assert.doesNotMatch(source, /\.getValue\(\)|\.setValue\(/, `${file} reads or writes one cell at a time`);
  }
  assert.match(read('addon/Api.gs'), /muteHttpExceptions: true/);
  assert.match(read('addon/Api.gs'), /UrlFetchApp\.fetchAll\(/);
});

test('the server functions the menu and the sidebar call exist with their names', () => {
  const addon = loadAddon();
  for (const name of ['onOpen', 'onInstall', 'showSidebar', 'scoreSelectedRows', 'scoreUnscoredRows',
    'setAutoRescore', 'getSettings', 'saveSettings', 'getSidebarState', 'selectRow', 'include',
    'autoRescoreOnEdit', 'autoRescoreOnChange', 'autoRescoreSweep']) {
    assert.equal(typeof addon.context[name], 'function', `${name} is missing`);
  }
});

test('onOpen adds the add-on menu (Extensions > Lead Scoring); each item calls a function that exists', () => {
  const addon = loadAddon();
  addon.call('onOpen', { authMode: 'NONE' });
  assert.equal(addon.ui.menus.length, 1);
  const menu = addon.ui.menus[0];
  assert.equal(menu.addon, true, 'a Marketplace add-on adds its menu with createAddonMenu()');
  const items = menu.items.filter((i) => !i.separator);
  assert.deepEqual(items.map((i) => i.caption), ['Open sidebar', 'Score selected rows', 'Score unscored rows', 'Settings']);
  for (const item of items) assert.equal(typeof addon.context[item.fn], 'function', item.fn);
  // onOpen may run with AuthMode.NONE: it must not touch properties or the network.
  assert.equal(addon.fetch.requests.length, 0);
  assert.equal(addon.properties.document.getKeys().length, 0);

  const installed = loadAddon();
  installed.call('onInstall', {});
  assert.equal(installed.ui.menus[0].addon, true);
});

test('showSidebar renders the template with its style and script partials', () => {
  const addon = loadAddon();
  addon.call('showSidebar');
  const output = addon.ui.sidebars[0];
  assert.equal(output.title, 'Lead Scoring');
  const html = output.getContent();
  assert.doesNotMatch(html, /<\?/, 'every scriptlet is evaluated');
  assert.match(html, /<style>[\s\S]*\.histogram/);
  assert.match(html, /<script>[\s\S]*google\.script\.run/);
  assert.match(html, /data-view="score"/);

  const settings = loadAddon();
  settings.call('showSettings');
  assert.match(settings.ui.sidebars[0].getContent(), /data-view="settings"/);
});

test('menu items report in a toast, and failures in an alert a rep can read', () => {
  const { leadRows, scoringBackend, BACKEND_URL } = require('./helpers/backend');
  const addon = loadAddon({ sheets: [{ values: leadRows(5) }], responder: scoringBackend(), settings: { backendUrl: BACKEND_URL } });
  addon.sheet.select('A2:A3');
  addon.call('menuScoreSelectedRows');
  assert.match(addon.spreadsheet.toasts[0].message, /^Scored 2 rows\./);

  const unset = loadAddon({ sheets: [{ values: leadRows(5) }] });
  unset.call('menuScoreUnscoredRows');
  assert.match(unset.ui.alerts[0].message, /Set the backend URL/);
});

test('the add-on finds the output columns by the headers the contract names (openapi.json)', () => {
  const spec = JSON.parse(read('backend/openapi.json'));
  const addon = loadAddon();
  assert.deepEqual(Array.from(addon.get('OUTPUT_HEADERS')), spec.components.schemas.OutputColumn.enum);
});
