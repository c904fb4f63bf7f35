#!/usr/bin/env node
'use strict';
/**
 * Prints the requests the add-on would send to the backend for a sheet, by running the
 * real addon/*.gs code in the test fakes. Nothing goes over the network.
 *
 * stdin (JSON):
 *   {
 *     "sheet": "Leads",                          sheet name (default "Leads")
 *     "header": ["Company", "Email", ...],       row 1
 *     "rows": [["Acme", "a@acme.com", ...], ...] rows 2, 3, ... (cells: string, number,
 *                                                boolean, null, or {"$date": "ISO"})
 *     "selection": "A2:F5" | "A2:F5,A9:F9" | ["A2:F5", "A9:F9"] | null
 *                                                null: score the unscored rows
 *     "settings": {"backendUrl": "http://127.0.0.1:8080", "keyColumn": "Email",
 *                  "maxRows": 500, "apiKey": "..."}
 *     optional: "spreadsheet_id", "time_zone" (default "UTC"), "hidden_rows": [7],
 *               "filtered_rows": [9], "model_version" (what /healthz reports; default:
 *               none, so every row with data counts as unscored), "identity_token"
 *   }
 *
 * stdout (JSON):
 *   {
 *     "mode": "selected" | "unscored",
 *     "url": "<backendUrl>/v1/sheets/score",
 *     "method": "POST",
 *     "headers": {"Content-Type": "application/json", "Authorization": "Bearer …"}
 *                (or "X-API-Key" when settings.apiKey is set),
 *     "bodies": [ {spreadsheet_id, sheet, header, rows: [{row, values}], key_columns?}, … ],
 *     "payloads": [ "<the exact request body text>", … ],       one per chunk
 *     "skipped": [ {"reason": "Hidden by a filter", "count": 1, "rows": [9]}, … ],
 *     "notice": null | "…"
 *   }
 *
 * Exit status: 0 ok; 2 when the input is unusable or the add-on refuses (message on stderr).
 */
const { loadAddon, plain } = require('./helpers/loader');
const { FakeSpreadsheet } = require('./helpers/fakes');

const DEFAULT_ID = '1AbCdEfGhIjKlMnOpQrStUvWxYz0123456789_-Xy';
const DEFAULT_TOKEN = 'test-identity-token';
/** A version no sheet holds, so that every row with data counts as unscored. */
const NO_VERSION = '\u0000no-active-version';

/**
 * Turns an input cell into what getValues() would give.
 * @param {*} cell a JSON cell.
 * @return {*} the cell value (a Date for {"$date": ...}).
 */
function toCell(cell) {
  if (cell && typeof cell === 'object' && !Array.isArray(cell) && '$date' in cell) {
    const date = new Date(cell.$date);
    if (isNaN(date.getTime())) throw new Error(`Not a date: ${cell.$date}`);
    return date;
  }
  return cell === null || cell === undefined ? '' : cell;
}

/**
 * Builds the requests for one sheet description.
 * @param {Object} input the stdin JSON.
 * @return {Object} the stdout JSON.
 */
function buildPayload(input) {
  if (!input || !Array.isArray(input.header) || !Array.isArray(input.rows)) {
    throw new Error('Input needs "header" (an array) and "rows" (an array of arrays).');
  }
  const settings = Object.assign({}, input.settings || {});
  if (!settings.backendUrl) settings.backendUrl = 'http://127.0.0.1:8080';
  const values = [input.header.map(toCell)].concat(input.rows.map((row) => {
    if (!Array.isArray(row)) throw new Error('Each row must be an array of cells.');
    return row.map(toCell);
  }));
  const spreadsheet = new FakeSpreadsheet({
    id: input.spreadsheet_id || DEFAULT_ID,
    timeZone: input.time_zone || 'UTC',
    sheets: [{
      name: input.sheet || 'Leads',
      values,
      hiddenRows: input.hidden_rows || [],
      filteredRows: input.filtered_rows || [],
    }],
  });
  const version = input.model_version === undefined || input.model_version === null ?
    NO_VERSION : String(input.model_version);
  const responder = (request) => {
    if (request.url.endsWith('/healthz')) {
      return { status: 200, body: { status: 'ok', model: { name: 'active', version } } };
    }
    const rows = request.body.rows.map((r) => r.row);
    return { status: 200, body: { model: { name: 'active', version }, written: rows, skipped: [], results: [], warnings: [] } };
  };
  const addon = loadAddon({
    spreadsheet,
    responder,
    identityToken: input.identity_token === undefined ? DEFAULT_TOKEN : input.identity_token,
    settings,
  });

  const selection = input.selection;
  let summary;
  if (selection === null || selection === undefined) {
    summary = addon.call('scoreUnscoredRows');
  } else {
    const refs = Array.isArray(selection) ? selection : String(selection).split(',');
    addon.sheet.select(...refs.map((ref) => ref.trim()).filter(Boolean));
    summary = addon.call('scoreSelectedRows');
  }

  const posts = addon.fetch.scoreRequests();
  const url = `${addon.call('getSettings').backendUrl}/v1/sheets/score`;
  const headers = (request) => Object.assign({ 'Content-Type': request.contentType }, request.headers);
  return {
    mode: summary.mode,
    url,
    method: 'POST',
    headers: posts.length ? headers(posts[0]) : headers({ contentType: 'application/json', headers: {} }),
    bodies: posts.map((r) => plain(r.body)),
    payloads: posts.map((r) => r.payload),
    skipped: summary.skipped,
    notice: summary.notice,
  };
}

/** Reads stdin, prints the result. */
function main() {
  let text = '';
  process.stdin.setEncoding('utf8');
  process.stdin.on('data', (chunk) => { text += chunk; });
  process.stdin.on('end', () => {
    try {
      const output = buildPayload(JSON.parse(text));
      process.stdout.write(`${JSON.stringify(output, null, 2)}\n`);
    } catch (err) {
      process.stderr.write(`build_payload: ${err && err.message ? err.message : err}\n`);
      process.exitCode = 2;
    }
  });
}

if (require.main === module) {
  main();
}

module.exports = { buildPayload };
