/**
 * @fileoverview Settings of the add-on, kept in PropertiesService.
 *
 * Per document (shared by everyone who uses this spreadsheet): the backend URL, the lead
 * key column, the rows sent per request, the sheet auto-rescore watches, the last run's
 * summary and rows waiting for a rescore. Per user: the optional API key, so one person's
 * key is never visible to the others.
 */

/** Property names; prefixed so they never collide with other scripts' properties. */
const PROP = Object.freeze({
  BACKEND_URL: 'leadscore.backendUrl',
  KEY_COLUMN: 'leadscore.keyColumn',
  MAX_ROWS: 'leadscore.maxRowsPerRequest',
  AUTO_SHEET_ID: 'leadscore.autoRescoreSheetId',
  LAST_RUN: 'leadscore.lastRun',
  PENDING_ROWS: 'leadscore.pendingRows',
  API_KEY: 'leadscore.apiKey',
});

/** Rows sent in one request unless the settings say otherwise (the backend caps it too). */
const DEFAULT_MAX_ROWS = 500;

/** Bounds for the rows-per-request setting. */
const MAX_ROWS_LIMITS = Object.freeze({ min: 1, max: 5000 });

/**
 * Reads the settings the add-on runs with.
 *
 * @return {{backendUrl: string, keyColumn: string, maxRows: number, apiKey: string,
 *     autoRescoreSheetId: (number|null)}} the stored settings, defaults filled in.
 */
function loadSettings_() {
  const doc = PropertiesService.getDocumentProperties();
  const user = PropertiesService.getUserProperties();
  const maxRows = parseInt(doc.getProperty(PROP.MAX_ROWS), 10);
  const autoSheet = doc.getProperty(PROP.AUTO_SHEET_ID);
  return {
    backendUrl: doc.getProperty(PROP.BACKEND_URL) || '',
    keyColumn: doc.getProperty(PROP.KEY_COLUMN) || '',
    maxRows: maxRows > 0 ? maxRows : DEFAULT_MAX_ROWS,
    apiKey: user.getProperty(PROP.API_KEY) || '',
    autoRescoreSheetId: autoSheet === null || autoSheet === '' ? null : Number(autoSheet),
  };
}

/**
 * The settings as the sidebar may see them: the API key itself never leaves the server.
 *
 * @return {{backendUrl: string, keyColumn: string, maxRows: number, apiKeySet: boolean}}
 *     the public view of the settings.
 */
function publicSettings_() {
  const settings = loadSettings_();
  return {
    backendUrl: settings.backendUrl,
    keyColumn: settings.keyColumn,
    maxRows: settings.maxRows,
    apiKeySet: settings.apiKey !== '',
  };
}

/**
 * Validates and stores settings sent by the sidebar. Fields left out are kept as they are;
 * `apiKey: ''` keeps the stored key and `clearApiKey: true` removes it.
 *
 * @param {{backendUrl: (string|undefined), keyColumn: (string|undefined),
 *     maxRows: (number|string|undefined), apiKey: (string|undefined),
 *     clearApiKey: (boolean|undefined)}} input the settings form's values.
 * @return {{backendUrl: string, keyColumn: string, maxRows: number, apiKeySet: boolean}}
 *     the settings now stored (public view).
 * @throws {ScoringError} when a value cannot be used, with a message saying which one.
 */
function storeSettings_(input) {
  const settings = input || {};
  const doc = PropertiesService.getDocumentProperties();
  const user = PropertiesService.getUserProperties();
  const updates = {};

  if (settings.backendUrl !== undefined) {
    updates[PROP.BACKEND_URL] = normalizeBackendUrl_(settings.backendUrl);
  }
  if (settings.keyColumn !== undefined) {
    updates[PROP.KEY_COLUMN] = String(settings.keyColumn || '').trim();
  }
  if (settings.maxRows !== undefined && settings.maxRows !== '') {
    const maxRows = Number(settings.maxRows);
    if (!Number.isInteger(maxRows) || maxRows < MAX_ROWS_LIMITS.min || maxRows > MAX_ROWS_LIMITS.max) {
      throw new ScoringError('settings',
          'Rows per request must be a whole number from ' + MAX_ROWS_LIMITS.min + ' to ' +
          MAX_ROWS_LIMITS.max + '.');
    }
    updates[PROP.MAX_ROWS] = String(maxRows);
  }
  doc.setProperties(updates);

  if (settings.clearApiKey) {
    user.deleteProperty(PROP.API_KEY);
  } else if (typeof settings.apiKey === 'string' && settings.apiKey.trim() !== '') {
    user.setProperty(PROP.API_KEY, settings.apiKey.trim());
  }
  return publicSettings_();
}

/**
 * Checks a backend URL typed by a user and returns it without trailing slashes.
 *
 * @param {string} value the URL as typed, e.g. "https://leadscore.example.com/".
 * @return {string} the base URL ("" clears the setting).
 * @throws {ScoringError} when the text is not an http(s) URL.
 */
function normalizeBackendUrl_(value) {
  const url = String(value || '').trim().replace(/\/+$/, '');
  if (url === '') {
    return '';
  }
  if (!/^https?:\/\/[^\s/?#]+(\/[^\s?#]*)?$/i.test(url)) {
    throw new ScoringError('settings',
        'The backend URL must look like https://leadscore.example.com (no spaces, no ? or #).');
  }
  return url;
}

/**
 * Returns the stored settings, or tells the user to set the backend URL first.
 *
 * @return {{backendUrl: string, keyColumn: string, maxRows: number, apiKey: string,
 *     autoRescoreSheetId: (number|null)}} settings with a backend URL.
 * @throws {ScoringError} when no backend URL is set.
 */
function requireSettings_() {
  const settings = loadSettings_();
  if (!settings.backendUrl) {
    throw new ScoringError('settings',
        'Set the backend URL in Lead Scoring ▸ Settings first (ask your admin for it).');
  }
  return settings;
}

/**
 * Remembers which sheet auto-rescore keeps scored.
 *
 * @param {?number} sheetId the sheet's id (gid), or null to forget it.
 */
function setAutoRescoreSheetId_(sheetId) {
  const doc = PropertiesService.getDocumentProperties();
  if (sheetId === null || sheetId === undefined) {
    doc.deleteProperty(PROP.AUTO_SHEET_ID);
  } else {
    doc.setProperty(PROP.AUTO_SHEET_ID, String(sheetId));
  }
}

/**
 * Reads the last run's summary.
 *
 * @return {?Object} the summary stored by the last run, or null.
 */
function loadLastRun_() {
  const text = PropertiesService.getDocumentProperties().getProperty(PROP.LAST_RUN);
  if (!text) {
    return null;
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    return null;
  }
}

/**
 * Stores a run's summary, trimmed to fit a property value (9 kB).
 *
 * @param {!Object} summary the run's summary.
 */
function storeLastRun_(summary) {
  const trimmed = JSON.parse(JSON.stringify(summary));
  let text = JSON.stringify(trimmed);
  // Drop detail from the end until it fits; the counts always stay.
  while (text.length > 8500 && trimmed.skipped && trimmed.skipped.some((g) => g.rows.length > 1)) {
    trimmed.skipped.forEach((group) => {
      group.rows = group.rows.slice(0, Math.ceil(group.rows.length / 2));
    });
    text = JSON.stringify(trimmed);
  }
  while (text.length > 8500 && (trimmed.warnings.length || trimmed.skipped.length > 1)) {
    if (trimmed.warnings.length) {
      trimmed.warnings.pop();
    } else {
      trimmed.skipped.pop();
    }
    text = JSON.stringify(trimmed);
  }
  PropertiesService.getDocumentProperties().setProperty(PROP.LAST_RUN, text.slice(0, 9000));
}

/**
 * Reads the rows waiting for a rescore (edits that arrived while another run held the lock).
 *
 * @return {!Array<number>} sheet row numbers, ascending.
 */
function loadPendingRows_() {
  const text = PropertiesService.getDocumentProperties().getProperty(PROP.PENDING_ROWS);
  return text ? expandRowRanges_(text) : [];
}

/**
 * Replaces the rows waiting for a rescore.
 *
 * @param {!Array<number>} rows sheet row numbers (any order, duplicates allowed).
 */
function storePendingRows_(rows) {
  const doc = PropertiesService.getDocumentProperties();
  if (!rows.length) {
    doc.deleteProperty(PROP.PENDING_ROWS);
    return;
  }
  doc.setProperty(PROP.PENDING_ROWS, compressRowRanges_(rows).slice(0, 9000));
}

/**
 * Writes row numbers compactly: [2,3,4,9] → "2-4,9".
 *
 * @param {!Array<number>} rows sheet row numbers.
 * @return {string} comma-separated runs.
 */
function compressRowRanges_(rows) {
  const sorted = Array.from(new Set(rows)).sort((a, b) => a - b);
  const parts = [];
  let start = sorted[0];
  let prev = sorted[0];
  for (let i = 1; i <= sorted.length; i++) {
    const row = sorted[i];
    if (row === prev + 1) {
      prev = row;
      continue;
    }
    parts.push(start === prev ? String(start) : start + '-' + prev);
    start = row;
    prev = row;
  }
  return parts.join(',');
}

/**
 * Reads row numbers written by compressRowRanges_: "2-4,9" → [2,3,4,9].
 *
 * @param {string} text comma-separated runs.
 * @return {!Array<number>} sheet row numbers, ascending.
 */
function expandRowRanges_(text) {
  const rows = [];
  String(text).split(',').forEach((part) => {
    const bounds = part.split('-').map((n) => parseInt(n, 10));
    if (bounds.some(isNaN)) {
      return;
    }
    const last = bounds.length > 1 ? bounds[1] : bounds[0];
    for (let row = bounds[0]; row <= last; row++) {
      rows.push(row);
    }
  });
  return rows;
}

/** Document property holding the "Where to sell" form's last values (see Regions.gs). */
const REGIONS_PROP = 'leadscore.regions';

/**
 * The "Where to sell" form as last submitted in this spreadsheet.
 *
 * @return {!Object} the stored values ({} when none or unreadable).
 */
function loadRegionForm_() {
  const text = PropertiesService.getDocumentProperties().getProperty(REGIONS_PROP);
  try {
    const stored = text ? JSON.parse(text) : {};
    return stored && typeof stored === 'object' ? stored : {};
  } catch (err) {
    return {};
  }
}

/**
 * Remembers the "Where to sell" form for everyone using this spreadsheet.
 *
 * @param {!Object} values the form's values (column names, sites text, radius).
 */
function storeRegionForm_(values) {
  PropertiesService.getDocumentProperties().setProperty(REGIONS_PROP, JSON.stringify(values));
}

/** The document property holding a shared model name (unset: the spreadsheet's own model). */
const MODEL_NAME_PROP = 'leadscore.modelName';

/**
 * The shared model name set for this spreadsheet.
 *
 * @return {string} the name, or "" when the spreadsheet uses its own model (its id).
 */
function loadModelName_() {
  return PropertiesService.getDocumentProperties().getProperty(MODEL_NAME_PROP) || '';
}

/**
 * Stores (or, with "", clears) the shared model name of this spreadsheet.
 *
 * @param {string} name a checked model name, or "".
 */
function storeModelName_(name) {
  const doc = PropertiesService.getDocumentProperties();
  if (name) {
    doc.setProperty(MODEL_NAME_PROP, name);
  } else {
    doc.deleteProperty(MODEL_NAME_PROP);
  }
}

/** The document property naming the column top leads are listed by. */
const NAME_COLUMN_PROP = 'leadscore.nameColumn';

/**
 * The column the top leads are listed by, as the user picked it.
 *
 * @return {string} its header text, or "" to pick one that looks like a company or name.
 */
function loadNameColumn_() {
  return PropertiesService.getDocumentProperties().getProperty(NAME_COLUMN_PROP) || '';
}

/**
 * Stores (or, with "", clears) the column the top leads are listed by.
 *
 * @param {string} name a header text, or "".
 */
function storeNameColumn_(name) {
  const doc = PropertiesService.getDocumentProperties();
  if (name) {
    doc.setProperty(NAME_COLUMN_PROP, name);
  } else {
    doc.deleteProperty(NAME_COLUMN_PROP);
  }
}
