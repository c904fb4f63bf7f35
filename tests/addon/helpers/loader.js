'use strict';
/**
 * Runs the add-on's addon/*.gs files in a fresh node:vm context with the fakes, the way
 * Apps Script runs a project: every file's top level in one global scope.
 *
 *   const addon = loadAddon({ sheets: [{ name: 'Leads', values: [...] }], responder });
 *   addon.call('scoreSelectedRows');
 *   addon.fetch.requests  // what was sent
 */
const fs = require('node:fs');
const path = require('node:path');
const vm = require('node:vm');

const fakes = require('./fakes');
const { renderTemplate } = require('./html');

const ROOT = path.resolve(__dirname, '..', '..', '..');
const ADDON_DIR = path.join(ROOT, 'addon');

/** The add-on's .gs files, compiled once per process. */
const SCRIPTS = fs.readdirSync(ADDON_DIR)
  .filter((name) => name.endsWith('.gs'))
  .sort()
  .map((name) => new vm.Script(fs.readFileSync(path.join(ADDON_DIR, name), 'utf8'), {
    filename: path.join(ADDON_DIR, name),
  }));

/**
 * Reads a script-project HTML file by its project name ("addon/Sidebar").
 * @param {string} name the file's name in the script project.
 * @return {string} its content.
 */
function readProjectHtml(name) {
  const file = path.join(ROOT, `${name}.html`);
  if (!file.startsWith(ADDON_DIR + path.sep) || !fs.existsSync(file)) {
    throw new Error(`No HTML file named ${name} in the script project`);
  }
  return fs.readFileSync(file, 'utf8');
}

/**
 * Builds the fakes and runs the add-on in them.
 *
 * @param {{spreadsheet: (fakes.FakeSpreadsheet|undefined), sheets: (Array|undefined),
 *     timeZone: (string|undefined), responder: (Function|undefined),
 *     documentProperties: (Object|undefined), userProperties: (Object|undefined),
 *     identityToken: (string|Error|undefined), triggers: (Array|undefined),
 *     settings: (Object|undefined)}} options the world the add-on runs in; `settings`
 *     ({backendUrl, keyColumn, maxRows, apiKey}) are stored the way the add-on stores them.
 * @return {Object} the context and every fake, plus helpers.
 */
function loadAddon(options = {}) {
  const spreadsheet = options.spreadsheet ||
    new fakes.FakeSpreadsheet({ sheets: options.sheets, timeZone: options.timeZone, id: options.spreadsheetId });
  const ui = new fakes.FakeUi();
  const fetch = new fakes.FakeUrlFetchApp(options.responder);
  const properties = new fakes.FakePropertiesService({
    document: options.documentProperties || {},
    user: options.userProperties || {},
  });
  const scriptApp = new fakes.FakeScriptApp({
    identityToken: options.identityToken === undefined ? 'id-token-for-tests' : options.identityToken,
    triggers: options.triggers || [],
  });
  const locks = new fakes.FakeLockService();
  const logs = fakes.recordingConsole();

  let context = null;
  const evaluate = (expr, vars) => {
    const fn = vm.runInContext(`(function (__vars) { with (__vars) { return (${expr}); } })`, context);
    return fn(vars);
  };
  const html = new fakes.FakeHtmlService({
    readFile: readProjectHtml,
    render: (text, vars) => renderTemplate(text, (expr) => evaluate(expr, vars)),
  });

  const SpreadsheetApp = {
    getActiveSpreadsheet: () => spreadsheet,
    getActive: () => spreadsheet,
    getUi: () => ui,
    getActiveSheet: () => spreadsheet.getActiveSheet(),
    getActiveRangeList: () => spreadsheet.getActiveRangeList(),
    getActiveRange: () => spreadsheet.getActiveRange(),
    flush: () => {},
  };
  const Session = {
    getActiveUser: () => ({ getEmail: () => 'rep@example.com' }),
    getEffectiveUser: () => ({ getEmail: () => 'rep@example.com' }),
    getScriptTimeZone: () => 'Etc/UTC',
  };

  context = vm.createContext({
    SpreadsheetApp,
    UrlFetchApp: fetch,
    PropertiesService: properties,
    ScriptApp: scriptApp,
    LockService: locks,
    HtmlService: html,
    Utilities: fakes.FakeUtilities,
    Session,
    console: logs,
  });
  SCRIPTS.forEach((script) => script.runInContext(context));

  const addon = {
    context,
    spreadsheet,
    sheet: spreadsheet.getSheets()[0],
    ui,
    fetch,
    properties,
    scriptApp,
    locks,
    logs,
    /** Calls a global function of the add-on; the result is copied into this realm. */
    call(name, ...args) {
      if (typeof context[name] !== 'function') throw new Error(`The add-on has no function ${name}`);
      return plain(context[name](...args));
    },
    /** Calls a global function and returns what it threw (fails when it did not throw). */
    error(name, ...args) {
      try {
        context[name](...args);
      } catch (err) {
        return err;
      }
      throw new Error(`${name} did not throw`);
    },
    /** Evaluates an expression in the add-on's global scope (for its constants). */
    get(expr) { return vm.runInContext(expr, context); },
  };
  if (options.settings) {
    addon.call('saveSettings', options.settings);
  }
  return addon;
}

/**
 * Copies a value from the vm realm into plain objects of this one (for deepStrictEqual).
 * @param {*} value any JSON-able value.
 * @return {*} the copy.
 */
function plain(value) {
  return value === undefined ? undefined : JSON.parse(JSON.stringify(value));
}

module.exports = { loadAddon, plain, readProjectHtml, ROOT, ADDON_DIR };
