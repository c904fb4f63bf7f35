'use strict';
/**
 * Hand-written fakes of the Apps Script services the add-on uses: just enough of
 * SpreadsheetApp, UrlFetchApp, PropertiesService, ScriptApp, LockService, HtmlService,
 * Utilities and Session to run addon/*.gs in a node:vm context and observe what it does.
 *
 * The fakes are strict where the real services are strict or where the add-on promises
 * something: a non-muted HTTP error throws, a property value over 9 kB throws, and
 * reading one cell with getValue() throws (the add-on reads whole ranges).
 */

// ---------------------------------------------------------------------------- A1 notation

/** "A" → 1, "AB" → 28. */
function columnNumber(letters) {
  let n = 0;
  for (const ch of letters.toUpperCase()) {
    n = n * 26 + (ch.charCodeAt(0) - 64);
  }
  return n;
}

/** 1 → "A", 28 → "AB". */
function columnLetters(n) {
  let s = '';
  while (n > 0) {
    const m = (n - 1) % 26;
    s = String.fromCharCode(65 + m) + s;
    n = Math.floor((n - 1) / 26);
  }
  return s;
}

/**
 * Parses "B3", "A2:F5", "A:A", "2:5" into a box; open ends go to the sheet's edge.
 * @return {{row: number, col: number, numRows: number, numCols: number}}
 */
function parseA1(a1, maxRows, maxCols) {
  const cleaned = a1.replace(/\$/g, '').replace(/^'?[^!]*'?!/, '');
  const ends = cleaned.split(':');
  const parse = (ref) => {
    const m = /^([A-Za-z]*)(\d*)$/.exec(ref);
    if (!m) throw new Error('Bad A1 notation: ' + a1);
    return { col: m[1] ? columnNumber(m[1]) : null, row: m[2] ? Number(m[2]) : null };
  };
  const a = parse(ends[0]);
  const b = ends.length > 1 ? parse(ends[1]) : a;
  const row = a.row || 1;
  const col = a.col || 1;
  const lastRow = b.row || maxRows;
  const lastCol = b.col || maxCols;
  return { row, col, numRows: lastRow - row + 1, numCols: lastCol - col + 1 };
}

// ---------------------------------------------------------------------------- Spreadsheet

class FakeRange {
  constructor(sheet, row, col, numRows, numCols) {
    if (row < 1 || col < 1 || numRows < 1 || numCols < 1) {
      throw new Error(`Range out of bounds: ${row},${col},${numRows},${numCols}`);
    }
    this.sheet = sheet;
    this.row = row;
    this.col = col;
    this.numRows = numRows;
    this.numCols = numCols;
  }
  getRow() { return this.row; }
  getColumn() { return this.col; }
  getNumRows() { return this.numRows; }
  getNumColumns() { return this.numCols; }
  getLastRow() { return this.row + this.numRows - 1; }
  getLastColumn() { return this.col + this.numCols - 1; }
  getSheet() { return this.sheet; }
  getA1Notation() {
    const start = columnLetters(this.col) + this.row;
    const end = columnLetters(this.getLastColumn()) + this.getLastRow();
    return start === end ? start : `${start}:${end}`;
  }
  getValues() {
    this.sheet.spreadsheet.reads.push(this.getA1Notation());
    const out = [];
    for (let r = 0; r < this.numRows; r++) {
      const source = this.sheet.values[this.row - 1 + r] || [];
      const line = [];
      for (let c = 0; c < this.numCols; c++) {
        const v = source[this.col - 1 + c];
        line.push(v === undefined || v === null ? '' : v);
      }
      out.push(line);
    }
    return out;
  }
  getValue() {
    throw new Error('getValue() reads one cell: the add-on must read whole ranges with getValues()');
  }
  setValues(values) {
    if (values.length !== this.numRows || values.some((row) => row.length !== this.numCols)) {
      throw new Error(`The data has ${values.length} rows but the range ${this.getA1Notation()} has ${this.numRows}`);
    }
    this.sheet.spreadsheet.writes.push({ sheet: this.sheet.name, range: this.getA1Notation() });
    values.forEach((row, r) => row.forEach((v, c) => this.sheet.setCell(this.row + r, this.col + c, v)));
    return this;
  }
  activate() {
    this.sheet.spreadsheet.activeSheet = this.sheet;
    this.sheet.spreadsheet.activeRanges = [this];
    return this;
  }
}

class FakeRangeList {
  constructor(ranges) { this.ranges = ranges; }
  getRanges() { return this.ranges.slice(); }
}

class FakeSheet {
  /**
   * @param {FakeSpreadsheet} spreadsheet the parent.
   * @param {{name: string, sheetId: number, values: Array<Array<*>>, hiddenRows: number[],
   *     filteredRows: number[], filter: boolean}} spec the sheet.
   */
  constructor(spreadsheet, spec) {
    this.spreadsheet = spreadsheet;
    this.name = spec.name || 'Leads';
    this.sheetId = spec.sheetId === undefined ? 0 : spec.sheetId;
    this.values = (spec.values || []).map((row) => row.slice());
    this.hiddenRows = new Set(spec.hiddenRows || []);
    this.filteredRows = new Set(spec.filteredRows || []);
    this.hasFilter = spec.filter !== undefined ? !!spec.filter : this.filteredRows.size > 0;
    this.hiddenChecks = 0;
    this.maxRows = Math.max(spec.maxRows || 1000, this.values.length);
    this.maxColumns = Math.max(spec.maxColumns || 26, ...this.values.map((r) => r.length), 1);
  }
  getName() { return this.name; }
  getSheetId() { return this.sheetId; }
  getParent() { return this.spreadsheet; }
  getMaxRows() { return this.maxRows; }
  getMaxColumns() { return this.maxColumns; }
  getLastRow() {
    for (let r = this.values.length; r >= 1; r--) {
      if ((this.values[r - 1] || []).some((v) => v !== '' && v !== null && v !== undefined)) return r;
    }
    return 0;
  }
  getLastColumn() {
    let last = 0;
    this.values.forEach((row) => {
      row.forEach((v, i) => { if (v !== '' && v !== null && v !== undefined) last = Math.max(last, i + 1); });
    });
    return last;
  }
  getRange(a, b, c, d) {
    if (typeof a === 'string') {
      const box = parseA1(a, this.maxRows, this.maxColumns);
      return new FakeRange(this, box.row, box.col, box.numRows, box.numCols);
    }
    return new FakeRange(this, a, b, c === undefined ? 1 : c, d === undefined ? 1 : d);
  }
  getDataRange() {
    return new FakeRange(this, 1, 1, Math.max(1, this.getLastRow()), Math.max(1, this.getLastColumn()));
  }
  getFilter() { return this.hasFilter ? { getRange: () => this.getDataRange() } : null; }
  isRowHiddenByFilter(row) { this.hiddenChecks++; return this.filteredRows.has(row); }
  isRowHiddenByUser(row) { this.hiddenChecks++; return this.hiddenRows.has(row); }
  getActiveRangeList() { return this.spreadsheet.getActiveRangeList(); }
  activate() { this.spreadsheet.activeSheet = this; return this; }
  setFrozenRows(n) { this.frozenRows = n; return this; }

  /** Test helper: selects ranges given in A1 notation, like a ctrl-click selection. */
  select(...a1) {
    this.spreadsheet.activeSheet = this;
    this.spreadsheet.activeRanges = a1.map((ref) => this.getRange(ref));
    return this;
  }
  /** Test helper: the value of a cell (row and column 1-based). */
  cell(row, col) { return (this.values[row - 1] || [])[col - 1]; }
  /** Test helper: sets a cell, growing the grid. */
  setCell(row, col, value) {
    while (this.values.length < row) this.values.push([]);
    this.values[row - 1][col - 1] = value;
  }
}

class FakeSpreadsheet {
  constructor(spec = {}) {
    this.id = spec.id || '1AbCdEfGhIjKlMnOpQrStUvWxYz0123456789_-Xy';
    this.name = spec.name || 'Pipeline';
    this.timeZone = spec.timeZone || 'UTC';
    this.url = spec.url || `https://docs.google.com/spreadsheets/d/${this.id}/edit`;
    this.sheets = (spec.sheets || [{}]).map((s, i) => new FakeSheet(this, Object.assign({ sheetId: i === 0 ? 0 : 1000 + i }, s)));
    this.activeSheet = this.sheets[0];
    this.activeRanges = [];
    this.reads = [];
    this.writes = [];
    this.toasts = [];
  }
  insertSheet(name) {
    if (this.getSheetByName(name)) throw new Error(`A sheet with the name "${name}" already exists.`);
    const sheet = new FakeSheet(this, { name, sheetId: 2000 + this.sheets.length });
    this.sheets.push(sheet);
    this.activeSheet = sheet;
    return sheet;
  }
  getId() { return this.id; }
  getName() { return this.name; }
  getUrl() { return this.url; }
  getSpreadsheetTimeZone() { return this.timeZone; }
  getSheets() { return this.sheets.slice(); }
  getSheetByName(name) { return this.sheets.find((s) => s.name === name) || null; }
  getActiveSheet() { return this.activeSheet; }
  setActiveSheet(sheet) { this.activeSheet = sheet; return sheet; }
  getActiveRangeList() {
    return this.activeRanges.length ? new FakeRangeList(this.activeRanges) : null;
  }
  getActiveRange() { return this.activeRanges[0] || null; }
  toast(message, title, seconds) { this.toasts.push({ message, title, seconds }); }
}

class FakeUi {
  constructor() {
    this.menus = [];
    this.sidebars = [];
    this.alerts = [];
    this.ButtonSet = { OK: 'OK', OK_CANCEL: 'OK_CANCEL', YES_NO: 'YES_NO' };
    this.Button = { OK: 'OK', CANCEL: 'CANCEL', YES: 'YES', NO: 'NO' };
  }
  createMenu(title) { return this._menu(title, false); }
  createAddonMenu() { return this._menu('(add-on)', true); }
  _menu(title, addon) {
    const menu = { title, addon, items: [], added: false };
    const builder = {
      addItem: (caption, fn) => { menu.items.push({ caption, fn }); return builder; },
      addSeparator: () => { menu.items.push({ separator: true }); return builder; },
      addSubMenu: () => builder,
      addToUi: () => { menu.added = true; this.menus.push(menu); },
    };
    return builder;
  }
  showSidebar(output) { this.sidebars.push(output); }
  alert(title, message, buttons) { this.alerts.push({ title, message, buttons }); return 'OK'; }
}

// ---------------------------------------------------------------------------- UrlFetchApp

class FakeHTTPResponse {
  constructor({ status = 200, body = '', headers = {} }) {
    this.status = status;
    this.text = typeof body === 'string' ? body : JSON.stringify(body);
    this.headers = Object.assign({}, headers);
    if (typeof body !== 'string' && !Object.keys(this.headers).some((k) => k.toLowerCase() === 'content-type')) {
      this.headers['Content-Type'] = 'application/json';
    }
  }
  getResponseCode() { return this.status; }
  getContentText() { return this.text; }
  getHeaders() { return Object.assign({}, this.headers); }
  getAllHeaders() { return Object.assign({}, this.headers); }
}

/**
 * Records every request; answers with `responder(request)`, which returns
 * {status, body, headers} or throws (a network failure).
 */
class FakeUrlFetchApp {
  constructor(responder) {
    this.responder = responder || (() => ({ status: 200, body: {} }));
    this.requests = [];
    this.fetchCalls = 0;
    this.fetchAllCalls = [];
  }
  static describe(url, params = {}) {
    const request = {
      url,
      method: String(params.method || 'get').toLowerCase(),
      contentType: params.contentType,
      headers: Object.assign({}, params.headers || {}),
      payload: params.payload,
      muteHttpExceptions: params.muteHttpExceptions === true,
    };
    if (typeof params.payload === 'string' && /json/.test(params.contentType || '')) {
      request.body = JSON.parse(params.payload);
    }
    return request;
  }
  _answer(request) {
    const response = new FakeHTTPResponse(this.responder(request));
    if (!request.muteHttpExceptions && response.getResponseCode() >= 400) {
      throw new Error(`Request failed for ${request.url} returned code ${response.getResponseCode()}`);
    }
    return response;
  }
  fetch(url, params) {
    this.fetchCalls += 1;
    const request = FakeUrlFetchApp.describe(url, params);
    this.requests.push(request);
    return this._answer(request);
  }
  fetchAll(list) {
    const requests = list.map((p) => FakeUrlFetchApp.describe(p.url, p));
    this.fetchAllCalls.push(requests.length);
    this.requests.push(...requests);
    // Like the real one: any request that fails to connect fails the whole call.
    return requests.map((r) => this._answer(r));
  }
  /** Test helper: the scoring requests (POST /v1/sheets/score). */
  scoreRequests() { return this.requests.filter((r) => r.url.endsWith('/v1/sheets/score')); }
}

// ---------------------------------------------------------------------------- Properties

class FakeProperties {
  constructor(initial = {}) { this.store = new Map(Object.entries(initial)); }
  getProperty(key) { return this.store.has(key) ? this.store.get(key) : null; }
  setProperty(key, value) {
    const text = String(value);
    if (text.length > 9 * 1024) throw new Error(`Property ${key} is over the 9 kB value limit`);
    this.store.set(key, text);
    return this;
  }
  setProperties(props) { Object.entries(props).forEach(([k, v]) => this.setProperty(k, v)); return this; }
  deleteProperty(key) { this.store.delete(key); return this; }
  getProperties() { return Object.fromEntries(this.store); }
  getKeys() { return Array.from(this.store.keys()); }
  deleteAllProperties() { this.store.clear(); return this; }
}

class FakePropertiesService {
  constructor({ document = {}, user = {}, script = {} } = {}) {
    this.document = new FakeProperties(document);
    this.user = new FakeProperties(user);
    this.script = new FakeProperties(script);
  }
  getDocumentProperties() { return this.document; }
  getUserProperties() { return this.user; }
  getScriptProperties() { return this.script; }
}

// ---------------------------------------------------------------------------- ScriptApp

class FakeTrigger {
  constructor(id, handler, eventType, source, sourceId) {
    Object.assign(this, { id, handler, eventType, source, sourceId });
  }
  getUniqueId() { return this.id; }
  getHandlerFunction() { return this.handler; }
  getEventType() { return this.eventType; }
  getTriggerSource() { return this.source; }
  getTriggerSourceId() { return this.sourceId; }
}

class FakeScriptApp {
  constructor({ identityToken = 'id-token-for-tests', triggers = [] } = {}) {
    this.identityToken = identityToken;
    this.triggers = [];
    this.nextId = 1;
    this.EventType = { ON_EDIT: 'ON_EDIT', ON_CHANGE: 'ON_CHANGE', CLOCK: 'CLOCK', ON_OPEN: 'ON_OPEN', ON_FORM_SUBMIT: 'ON_FORM_SUBMIT' };
    this.TriggerSource = { SPREADSHEETS: 'SPREADSHEETS', CLOCK: 'CLOCK' };
    this.AuthMode = { NONE: 'NONE', LIMITED: 'LIMITED', FULL: 'FULL', CUSTOM_FUNCTION: 'CUSTOM_FUNCTION' };
    triggers.forEach((t) => this._add(t.handler, t.eventType, t.source || 'SPREADSHEETS', t.sourceId || null));
  }
  _add(handler, eventType, source, sourceId) {
    const trigger = new FakeTrigger(String(this.nextId++), handler, eventType, source, sourceId);
    this.triggers.push(trigger);
    return trigger;
  }
  getIdentityToken() {
    if (this.identityToken instanceof Error) throw this.identityToken;
    return this.identityToken;
  }
  getProjectTriggers() { return this.triggers.slice(); }
  getUserTriggers() { return this.triggers.slice(); }
  deleteTrigger(trigger) {
    const before = this.triggers.length;
    this.triggers = this.triggers.filter((t) => t.id !== trigger.getUniqueId());
    if (this.triggers.length === before) throw new Error('No such trigger: ' + trigger.getUniqueId());
  }
  newTrigger(handler) {
    const app = this;
    return {
      forSpreadsheet(ss) {
        const id = typeof ss === 'string' ? ss : ss.getId();
        const make = (type) => ({ create: () => app._add(handler, type, 'SPREADSHEETS', id) });
        return {
          onEdit: () => make('ON_EDIT'),
          onChange: () => make('ON_CHANGE'),
          onOpen: () => make('ON_OPEN'),
          onFormSubmit: () => make('ON_FORM_SUBMIT'),
        };
      },
      timeBased() {
        const every = {
          create: () => app._add(handler, 'CLOCK', 'CLOCK', null),
        };
        return {
          everyHours: (n) => { every.hours = n; app.lastClockInterval = { hours: n }; return every; },
          everyMinutes: (n) => { every.minutes = n; app.lastClockInterval = { minutes: n }; return every; },
        };
      },
    };
  }
  /** Test helper: handler names of the installed triggers, sorted. */
  handlers() { return this.triggers.map((t) => `${t.handler}:${t.eventType}`).sort(); }
}

// ---------------------------------------------------------------------------- LockService

/** One shared lock; `heldElsewhere` makes every tryLock fail, as when another run holds it. */
class FakeLockService {
  constructor() {
    this.heldElsewhere = false;
    this.held = false;
    this.attempts = [];
    this.releases = 0;
  }
  _lock(kind) {
    const service = this;
    let mine = false;
    return {
      tryLock(ms) {
        service.attempts.push({ kind, ms });
        if (service.heldElsewhere || service.held) return false;
        service.held = true;
        mine = true;
        return true;
      },
      waitLock(ms) {
        if (!this.tryLock(ms)) throw new Error('Lock timeout: another process was holding the lock for too long.');
      },
      hasLock() { return mine; },
      releaseLock() {
        if (mine) {
          mine = false;
          service.held = false;
          service.releases += 1;
        }
      },
    };
  }
  getDocumentLock() { return this._lock('document'); }
  getScriptLock() { return this._lock('script'); }
  getUserLock() { return this._lock('user'); }
}

// ---------------------------------------------------------------------------- HtmlService

class FakeHtmlOutput {
  constructor(content) { this.content = content; this.title = null; this.width = null; }
  getContent() { return this.content; }
  setTitle(title) { this.title = title; return this; }
  setWidth(width) { this.width = width; return this; }
  setSandboxMode() { return this; }
  setXFrameOptionsMode() { return this; }
  addMetaTag() { return this; }
}

/**
 * HtmlService over a directory of files named like the script project's files
 * ("addon/Sidebar" → addon/Sidebar.html). Templates are rendered by `render`.
 */
class FakeHtmlService {
  constructor({ readFile, render }) {
    this.readFile = readFile;
    this.render = render;
    this.SandboxMode = { IFRAME: 'IFRAME' };
    this.XFrameOptionsMode = { ALLOWALL: 'ALLOWALL', DEFAULT: 'DEFAULT' };
  }
  createHtmlOutputFromFile(name) { return new FakeHtmlOutput(this.readFile(name)); }
  createHtmlOutput(html) { return new FakeHtmlOutput(html || ''); }
  createTemplateFromFile(name) {
    const service = this;
    const template = {
      evaluate() {
        const vars = {};
        Object.keys(template).forEach((k) => { if (k !== 'evaluate' && k !== 'getCode') vars[k] = template[k]; });
        return new FakeHtmlOutput(service.render(service.readFile(name), vars));
      },
      getCode() { return service.readFile(name); },
    };
    return template;
  }
}

// ---------------------------------------------------------------------------- Utilities

/**
 * Utilities.formatDate for the patterns the add-on uses (yyyy MM dd HH mm ss SSS XXX and
 * quoted literals), in any IANA time zone.
 */
function formatDate(date, timeZone, pattern) {
  const parts = {};
  new Intl.DateTimeFormat('en-US', {
    timeZone, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit',
    hour: '2-digit', minute: '2-digit', second: '2-digit',
  }).formatToParts(date).forEach((p) => { parts[p.type] = p.value; });
  const asUtc = Date.UTC(+parts.year, +parts.month - 1, +parts.day, +parts.hour, +parts.minute, +parts.second);
  const offsetMinutes = Math.round((asUtc - Math.floor(date.getTime() / 1000) * 1000) / 60000);
  const sign = offsetMinutes < 0 ? '-' : '+';
  const abs = Math.abs(offsetMinutes);
  const offset = offsetMinutes === 0 ? 'Z' :
    `${sign}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`;
  return pattern.replace(/'([^']*)'|yyyy|MM|dd|HH|mm|ss|SSS|XXX/g, (token, literal) => {
    if (literal !== undefined) return literal;
    switch (token) {
      case 'yyyy': return parts.year;
      case 'MM': return parts.month;
      case 'dd': return parts.day;
      case 'HH': return parts.hour;
      case 'mm': return parts.minute;
      case 'ss': return parts.second;
      case 'SSS': return String(date.getTime() % 1000).padStart(3, '0');
      case 'XXX': return offset;
      default: return token;
    }
  });
}

const FakeUtilities = {
  formatDate,
  getUuid: () => '00000000-0000-4000-8000-000000000000',
  sleep: () => {},
};

/** A console that keeps what the add-on logs instead of printing it. */
function recordingConsole() {
  const lines = [];
  const record = (level) => (...args) => lines.push({ level, text: args.join(' ') });
  return { lines, log: record('log'), info: record('info'), warn: record('warn'), error: record('error') };
}

module.exports = {
  columnNumber,
  columnLetters,
  parseA1,
  formatDate,
  FakeRange,
  FakeSheet,
  FakeSpreadsheet,
  FakeUi,
  FakeHTTPResponse,
  FakeUrlFetchApp,
  FakeProperties,
  FakePropertiesService,
  FakeScriptApp,
  FakeLockService,
  FakeHtmlService,
  FakeHtmlOutput,
  FakeUtilities,
  recordingConsole,
};
