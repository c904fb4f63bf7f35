/**
 * @fileoverview "Where to sell": sends the whole sheet and the company's sites to the backend
 * (POST /v1/regions) and writes the prospects to call first into a new tab. The user's own
 * tabs and cells are never written to.
 */

/** Backend path of the report (see backend/openapi.json). */
const REGIONS_PATH = '/v1/regions';

/** The new tab's name; a date and, when taken, a number are added. */
const REGIONS_TAB = 'Where to sell';

/** Most rows the backend reads for the report. */
const REGIONS_MAX_ROWS = 50000;

/** The form's fields, with defaults. */
const REGIONS_DEFAULTS = Object.freeze({
  target: '', positive: 'Won', value: '', industry: '', zip: '', sites: '', radius: 100,
});

/**
 * The form's stored values (the sites as "Name, ZIP" lines).
 *
 * @return {{target: string, positive: string, value: string, industry: string, zip: string,
 *     sites: string, radius: number}} the values, defaults filled in.
 */
function getRegionSettings() {
  return Object.assign({}, REGIONS_DEFAULTS, loadRegionForm_());
}

/**
 * Reads "Name, ZIP" lines (comma, semicolon or tab between them) into sites.
 *
 * @param {string} text one site per line, e.g. "Houston, 77002".
 * @return {!Array<{name: string, zip: string}>} the sites.
 * @throws {ScoringError} naming the line that cannot be read.
 */
function parseSites_(text) {
  const sites = [];
  String(text || '').split(/\r?\n/).forEach((line, i) => {
    const trimmed = line.trim();
    if (!trimmed) {
      return;
    }
    const match = trimmed.match(/^(.*?)[,;\t]\s*(\d{3,5}(?:-\d{4})?)\s*$/);
    if (!match || !match[1].trim()) {
      throw new ScoringError('bad_sites', 'Sites, line ' + (i + 1) + ' ("' + trimmed + '"): write the ' +
          'site\'s name, a comma and its ZIP code, e.g. "Houston, 77002".');
    }
    sites.push({ name: match[1].trim(), zip: match[2] });
  });
  if (!sites.length) {
    throw new ScoringError('bad_sites', 'List your sites first, one per line as "Name, ZIP" ' +
        '(e.g. "Houston, 77002").');
  }
  return sites;
}

/**
 * Runs the where-to-sell report on the active sheet and writes the targets into a new tab.
 *
 * @param {{target: string, positive: string, value: string, industry: string, zip: string,
 *     sites: string, radius: (number|string)}} form the sidebar's form.
 * @return {{summary: !Array<string>, notes: !Array<string>, rankedBy: string, targets: number,
 *     tab: ?string, sheetId: ?number}} what to show.
 * @throws {ScoringError} when the form, the sheet or the backend says no.
 */
function findWhereToSell(form) {
  const values = Object.assign({}, REGIONS_DEFAULTS, form || {});
  ['target', 'positive', 'value', 'industry', 'zip', 'sites'].forEach((k) => {
    values[k] = String(values[k] || '').trim();
  });
  values.radius = Number(values.radius) || REGIONS_DEFAULTS.radius;
  if (!values.target || !values.positive) {
    throw new ScoringError('bad_form', 'Choose the outcome column (e.g. Status) and the value that ' +
        'marks a customer (e.g. Won).');
  }
  const sites = parseSites_(values.sites);
  storeRegionForm_(values);
  const settings = requireSettings_();
  const spreadsheet = SpreadsheetApp.getActiveSpreadsheet();
  const sheet = spreadsheet.getActiveSheet();
  const layout = readLayout_(sheet);
  const rows = readAllRows_(sheet, layout);
  if (!rows.length) {
    throw new ScoringError('no_rows', 'The sheet "' + sheet.getName() + '" has no rows below its header.');
  }
  if (rows.length > REGIONS_MAX_ROWS) {
    throw new ScoringError('too_many', 'The sheet has ' + rows.length + ' rows; the report reads at most ' +
        REGIONS_MAX_ROWS + '.');
  }
  const timeZone = spreadsheet.getSpreadsheetTimeZone();
  const payload = {
    header: layout.dataColumns.map((i) => headerText_(layout.header[i])),
    rows: rows.map((r) => layout.dataColumns.map((i) => cellToJson_(r.cells[i], timeZone))),
    target: values.target,
    positive: values.positive,
    sites: sites,
    radius: values.radius,
  };
  ['value', 'industry', 'zip'].forEach((k) => {
    if (values[k]) {
      payload[k] = values[k];
    }
  });
  const response = fetchOne_({
    url: settings.backendUrl + REGIONS_PATH,
    method: 'post',
    contentType: 'application/json',
    headers: authHeaders_(settings),
    payload: JSON.stringify(payload),
    muteHttpExceptions: true,
  }, settings);
  if (response.getResponseCode() !== 200) {
    throw describeHttpFailure_(response, settings);
  }
  const body = parseJson_(response.getContentText());
  if (!body || !body.targets || !Array.isArray(body.targets.rows)) {
    throw unexpectedAnswer_(settings);
  }
  const tab = body.targets.rows.length ? writeTargetsTab_(spreadsheet, body.targets, timeZone) : null;
  return {
    summary: body.summary || [],
    notes: body.notes || [],
    rankedBy: body.ranked_by || '',
    targets: body.targets.rows.length,
    tab: tab ? tab.getName() : null,
    sheetId: tab ? tab.getSheetId() : null,
  };
}

/**
 * Writes the targets into a new tab in one setValues (text that starts with "=" stays text).
 *
 * @param {!Object} spreadsheet the Spreadsheet.
 * @param {{header: !Array<string>, rows: !Array<!Array<*>>}} table the targets.
 * @param {string} timeZone the spreadsheet's time zone (for the tab's date).
 * @return {!Object} the new Sheet.
 */
function writeTargetsTab_(spreadsheet, table, timeZone) {
  const base = REGIONS_TAB + ' ' + Utilities.formatDate(new Date(), timeZone, 'yyyy-MM-dd');
  let name = base;
  for (let n = 2; spreadsheet.getSheetByName(name); n++) {
    name = base + ' (' + n + ')';
  }
  const tab = spreadsheet.insertSheet(name);
  const values = [table.header].concat(table.rows).map((row) => table.header.map((_, i) => {
    const v = row[i];
    if (v === null || v === undefined) {
      return '';
    }
    return typeof v === 'string' && /^[=+@]/.test(v) ? '\'' + v : v;
  }));
  tab.getRange(1, 1, values.length, table.header.length).setValues(values);
  tab.setFrozenRows(1);
  return tab;
}
