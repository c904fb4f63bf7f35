'use strict';
/** Which rows a run sends: selections (several ranges, hidden rows) and unscored rows. */
const test = require('node:test');
const assert = require('node:assert/strict');

const { loadAddon } = require('./helpers/loader');
const { BACKEND_URL, MODEL, HEADER, OUTPUT_HEADERS, leadRows, scoringBackend, problem } = require('./helpers/backend');

/** The add-on over one sheet of leads, with the stand-in backend. */
function addonWith(values, sheetSpec = {}, responder = scoringBackend()) {
  return loadAddon({
    sheets: [Object.assign({ name: 'Leads', values }, sheetSpec)],
    responder,
    settings: { backendUrl: BACKEND_URL },
  });
}

/** The row numbers of every score request, in order. */
const sentRows = (addon) => addon.fetch.scoreRequests().flatMap((r) => r.body.rows.map((x) => x.row));

// ------------------------------------------------------------------------------- selection

test('several ranges: rows de-duplicated, in sheet order, header row left out', () => {
  const addon = addonWith(leadRows(20));
  addon.sheet.select('B9:C11', 'A1:F3', 'D10:D12', 'A5');
  addon.call('scoreSelectedRows');
  assert.deepEqual(sentRows(addon), [2, 3, 5, 9, 10, 11, 12]);
});

test('each selected row is sent with its full row, whatever columns were selected', () => {
  const addon = addonWith(leadRows(5));
  addon.sheet.select('C4');
  addon.call('scoreSelectedRows');
  const [request] = addon.fetch.scoreRequests();
  assert.deepEqual(request.body.rows, [{ row: 4, values: ['Company 4', 'lead4@example.com', 'Event', 1074, '2024-01-03', ''] }]);
});

test('rows hidden by a filter or by the user are skipped and reported; row numbers stay true', () => {
  const addon = addonWith(leadRows(10), { filteredRows: [4, 5], hiddenRows: [8] });
  addon.sheet.select('A2:F11');
  const summary = addon.call('scoreSelectedRows');
  assert.deepEqual(sentRows(addon), [2, 3, 6, 7, 9, 10, 11]);
  const [request] = addon.fetch.scoreRequests();
  assert.equal(request.body.rows[2].values[0], 'Company 6');
  assert.deepEqual(summary.skipped.map((g) => [g.reason, g.rows]), [
    ['Hidden by a filter', [4, 5]],
    ['Hidden row', [8]],
  ]);
  assert.equal(summary.scored, 7);
});

test('without a filter, no filter checks are made (only hidden-by-user ones)', () => {
  const addon = addonWith(leadRows(4));
  addon.sheet.select('A2:A5');
  addon.call('scoreSelectedRows');
  assert.equal(addon.sheet.hiddenChecks, 4);
});

test('a whole-column selection means the data rows, not the empty grid below', () => {
  const addon = addonWith(leadRows(6));
  addon.sheet.select('B:B');
  addon.call('scoreSelectedRows');
  assert.deepEqual(sentRows(addon), [2, 3, 4, 5, 6, 7]);
  assert.deepEqual(addon.spreadsheet.reads, ['A1:F1', 'A2:F7'], 'read in whole ranges');
});

test('scattered rows are read as blocks, never cell by cell', () => {
  const addon = addonWith(leadRows(40));
  addon.sheet.select('A2:A3', 'A10', 'A20:A22');
  addon.call('scoreSelectedRows');
  assert.deepEqual(addon.spreadsheet.reads, ['A1:F1', 'A2:F3', 'A10:F10', 'A20:F22']);
});

test('very scattered rows: one read of the block around them', () => {
  const addon = addonWith(leadRows(80));
  const picks = Array.from({ length: 30 }, (_, i) => `A${2 + i * 2}`);
  addon.sheet.select(...picks);
  addon.call('scoreSelectedRows');
  assert.deepEqual(addon.spreadsheet.reads, ['A1:F1', 'A2:F60']);
  assert.deepEqual(sentRows(addon), Array.from({ length: 30 }, (_, i) => 2 + i * 2));
});

test('selected empty rows are skipped; rows past the data are ignored', () => {
  const values = leadRows(4);
  values[2] = ['', '', '   ', '', '', ''];
  const addon = addonWith(values);
  addon.sheet.select('A2:F30');
  const summary = addon.call('scoreSelectedRows');
  assert.deepEqual(sentRows(addon), [2, 4, 5]);
  assert.deepEqual(summary.skipped, [{ reason: 'Empty row', count: 1, rows: [3] }]);
});

test('only the header selected: nothing is sent and the rep is told what to select', () => {
  const addon = addonWith(leadRows(4));
  addon.sheet.select('A1:F1');
  const summary = addon.call('scoreSelectedRows');
  assert.equal(addon.fetch.requests.length, 0);
  assert.match(summary.notice, /Select the rows to score/);
});

test('a sheet without column names is refused before anything is sent', () => {
  const addon = addonWith([['', ''], ['Acme', 3]]);
  addon.sheet.select('A2');
  assert.match(addon.error('scoreSelectedRows').message, /Row 1 of "Leads" has no column names/);
  const empty = addonWith([]);
  assert.match(empty.error('scoreSelectedRows').message, /is empty/);
});

// ------------------------------------------------------------------------------- unscored

/** Leads with the output columns; `outputs[row]` fills that row's output cells. */
function scoredSheet(count, outputs) {
  const values = leadRows(count);
  values[0] = HEADER.concat(OUTPUT_HEADERS);
  for (let row = 2; row <= count + 1; row++) {
    const out = outputs[row] || {};
    values[row - 1] = values[row - 1].concat(OUTPUT_HEADERS.map((h) => (h in out ? out[h] : '')));
  }
  return values;
}

const CURRENT = { 'Lead Score': 7, 'Close Probability': 0.41, 'Score Reasons': 'Lead Source = Referral ↑', 'Scored At': '2024-11-01 10:00', 'Model Version': MODEL.version };

test('unscored rows: never scored, cleared, or scored by another model version', () => {
  const values = scoredSheet(9, {
    2: CURRENT,
    3: Object.assign({}, CURRENT, { 'Model Version': '2024.10.0' }), // older model
    4: {}, // never scored
    5: CURRENT,
    6: { 'Score Reasons': 'Not scored: no usable values', 'Model Version': MODEL.version }, // tried, kept
    7: Object.assign({}, CURRENT, { 'Lead Score': '', 'Score Reasons': '' }), // cleared by hand
    8: { 'Lead Score': 5 }, // a score with no version: an old run
    10: CURRENT,
  });
  values[8] = ['', '', '', '', '', ''].concat(OUTPUT_HEADERS.map(() => '')); // row 9 empty: not a lead
  const addon = addonWith(values);
  const summary = addon.call('scoreUnscoredRows');

  const [health] = addon.fetch.requests;
  assert.equal(health.url, `${BACKEND_URL}/healthz`);
  assert.equal(health.method, 'get');
  assert.deepEqual(sentRows(addon), [3, 4, 7, 8]);
  const [request] = addon.fetch.scoreRequests();
  assert.deepEqual(request.body.header, HEADER, 'output columns are not sent');
  assert.equal(summary.scored, 4);
  assert.deepEqual(addon.spreadsheet.reads, ['A1:M1', 'A2:M10'], 'one read for the whole sheet');
});

test('a sheet without output columns: every lead row is unscored', () => {
  const addon = addonWith(leadRows(5));
  addon.call('scoreUnscoredRows');
  assert.deepEqual(sentRows(addon), [2, 3, 4, 5, 6]);
});

test('everything already scored: only /healthz is asked, and the rep is told so', () => {
  const addon = addonWith(scoredSheet(3, { 2: CURRENT, 3: CURRENT, 4: CURRENT }));
  const summary = addon.call('scoreUnscoredRows');
  assert.equal(addon.fetch.requests.length, 1);
  assert.equal(summary.sent, 0);
  assert.match(summary.notice, /already has a score from model 2024\.11\.1/);
});

test('unscored rows go to the active sheet, not the first one', () => {
  const addon = loadAddon({
    sheets: [{ name: 'Notes', values: [['x'], ['y']] }, { name: 'Leads', values: leadRows(2) }],
    responder: scoringBackend(),
    settings: { backendUrl: BACKEND_URL },
  });
  addon.spreadsheet.getSheetByName('Leads').activate();
  addon.call('scoreUnscoredRows');
  const [request] = addon.fetch.scoreRequests();
  assert.equal(request.body.sheet, 'Leads');
});

test('a backend without a model: unscored scoring stops with the no-model message', () => {
  const none = addonWith(leadRows(3), {}, scoringBackend({ model: null }));
  assert.match(none.error('scoreUnscoredRows').message, /No scoring model is available/);
  const down = addonWith(leadRows(3), {}, () => problem(503, 'No model bundle in /models'));
  assert.match(down.error('scoreUnscoredRows').message, /No scoring model is available/);
  assert.equal(down.fetch.scoreRequests().length, 0);
});
