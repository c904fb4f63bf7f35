'use strict';
/** The request the add-on sends: shape, cell conversion, headers, and the OpenAPI contract. */
const test = require('node:test');
const assert = require('node:assert/strict');

const { loadAddon } = require('./helpers/loader');
const { BACKEND_URL, HEADER, leadRows, scoringBackend, sheetScoreAnswer, MODEL } = require('./helpers/backend');
const { assertMatches, validator } = require('./helpers/schema');

/** Scores a selection of a sheet and returns the add-on and its score requests. */
function scoreSelection(values, selection, { settings = {}, timeZone, identityToken, sheetSpec = {} } = {}) {
  const addon = loadAddon({
    sheets: [Object.assign({ name: 'Leads', values }, sheetSpec)],
    timeZone,
    identityToken,
    responder: scoringBackend(),
    settings: Object.assign({ backendUrl: BACKEND_URL }, settings),
  });
  addon.sheet.select(...[].concat(selection));
  const summary = addon.call('scoreSelectedRows');
  return { addon, summary, requests: addon.fetch.scoreRequests() };
}

test('the body is a SheetScoreRequest: spreadsheet id, sheet name, header, rows with their row numbers', () => {
  const { addon, requests } = scoreSelection(leadRows(6), 'A3:F5');
  assert.equal(requests.length, 1);
  const body = requests[0].body;
  assert.deepEqual(Object.keys(body).sort(), ['header', 'rows', 'sheet', 'spreadsheet_id']);
  assert.equal(body.spreadsheet_id, addon.spreadsheet.getId());
  assert.equal(body.sheet, 'Leads');
  assert.deepEqual(body.header, HEADER);
  assert.deepEqual(body.rows.map((r) => r.row), [3, 4, 5]);
  assert.deepEqual(body.rows[0], { row: 3, values: ['Company 3', 'lead3@example.com', 'Web', 1037, '2024-01-02', ''] });
  for (const r of body.rows) assert.equal(r.values.length, body.header.length);
  assertMatches('SheetScoreRequest', body);
});

test('the request: POST JSON to /v1/sheets/score with the ID token, errors muted for problem+json', () => {
  const { requests } = scoreSelection(leadRows(3), 'A2');
  const request = requests[0];
  assert.equal(request.url, `${BACKEND_URL}/v1/sheets/score`);
  assert.equal(request.method, 'post');
  assert.equal(request.contentType, 'application/json');
  assert.equal(request.muteHttpExceptions, true);
  assert.deepEqual(request.headers, { Authorization: 'Bearer id-token-for-tests' });
  assert.equal(request.payload, JSON.stringify(request.body));
});

test('with an API key set, the key is sent as X-API-Key instead of the ID token', () => {
  const { requests } = scoreSelection(leadRows(3), 'A2', { settings: { apiKey: 'k-123' } });
  assert.deepEqual(requests[0].headers, { 'X-API-Key': 'k-123' });
});

test('without an ID token (no openid scope granted) the request still goes out, unauthenticated', () => {
  const { requests } = scoreSelection(leadRows(3), 'A2', { identityToken: new Error('no openid scope') });
  assert.deepEqual(requests[0].headers, {});
});

test('cells: dates become ISO strings in the sheet time zone, empty cells "", numbers and booleans kept', () => {
  const values = [
    ['Name', 'Created', 'Last Call', 'Budget', 'Qualified', 'Notes'],
    // Midnight in Berlin is the day before in UTC: the date must stay the sheet's date.
    ['Acme', new Date('2024-02-29T23:00:00Z'), new Date('2024-03-01T13:30:00Z'), 12000, true, null],
    ['Globex', '', new Date('2024-07-01T08:05:09Z'), '$12,000', false, '=SUM(A1)'],
  ];
  const { requests } = scoreSelection(values, 'A2:F3', { timeZone: 'Europe/Berlin' });
  const rows = requests[0].body.rows;
  assert.deepEqual(rows[0].values, ['Acme', '2024-03-01', '2024-03-01T14:30:00+01:00', 12000, true, '']);
  assert.deepEqual(rows[1].values, ['Globex', '', '2024-07-01T10:05:09+02:00', '$12,000', false, '=SUM(A1)']);
  assertMatches('SheetScoreRequest', requests[0].body);
});

test('cells go by position from column A through the last data column (output columns at the right stay out)', () => {
  const values = [
    ['Company', 'Lead Score', 'Lead Source', '', 'MRR', 'Model Version', 'Scored At'],
    ['Acme', 7, 'Referral', 'stray', 900, '2024.11.1', '2024-11-01 10:00'],
  ];
  const { requests } = scoreSelection(values, 'A2:G2');
  const body = requests[0].body;
  // The backend checks the sheet's columns by position, so nothing in between is dropped.
  assert.deepEqual(body.header, ['Company', 'Lead Score', 'Lead Source', '', 'MRR']);
  assert.deepEqual(body.rows, [{ row: 2, values: ['Acme', 7, 'Referral', 'stray', 900] }]);
  assertMatches('SheetScoreRequest', body);
});

test('the lead key column goes out as key_columns, spelled as in the header', () => {
  const values = leadRows(3);
  values[0][1] = ' Email ';
  const { requests } = scoreSelection(values, 'A2:A3', { settings: { keyColumn: 'Email' } });
  assert.deepEqual(requests[0].body.key_columns, [' Email ']);
  assertMatches('SheetScoreRequest', requests[0].body);
});

test('a key column that is not in the header stops the run with a clear message', () => {
  const addon = loadAddon({ sheets: [{ values: leadRows(3) }], responder: scoringBackend(),
    settings: { backendUrl: BACKEND_URL, keyColumn: 'Lead ID' } });
  addon.sheet.select('A2');
  const err = addon.error('scoreSelectedRows');
  assert.match(err.message, /"Lead ID" is not in row 1 of "Leads"/);
  assert.equal(addon.fetch.requests.length, 0);
});

test('the contract check itself rejects bodies the backend would refuse', () => {
  const validate = validator('SheetScoreRequest');
  const good = { spreadsheet_id: '1AbCdEfGhIjKlMn', sheet: 'Leads', header: ['A'], rows: [{ row: 2, values: ['x'] }] };
  assert.equal(validate(good), true);
  assert.equal(validate(Object.assign({}, good, { rows: [{ row: 1, values: [] }] })), false, 'row 1 is the header');
  assert.equal(validate(Object.assign({}, good, { rows: [{ row: 2, values: [{}] }] })), false, 'cells are scalars');
  assert.equal(validate(Object.assign({}, good, { extra: 1 })), false, 'no unknown fields');
  assert.equal(validate(Object.assign({}, good, { spreadsheet_id: 'short' })), false);
});

test('the stand-in backend answers as the contract says (so the other tests mean something)', () => {
  const { requests } = scoreSelection(leadRows(4), 'A2:A5');
  assertMatches('SheetScoreResponse', sheetScoreAnswer(requests[0].body, MODEL));
  assertMatches('Health', { status: 'ok', model: MODEL });
});
