'use strict';
/** Rows go out in chunks under the row limit, several at once, and come back as one summary. */
const test = require('node:test');
const assert = require('node:assert/strict');

const { loadAddon } = require('./helpers/loader');
const { BACKEND_URL, leadRows, scoringBackend, problem, scoreFor } = require('./helpers/backend');
const { assertMatches } = require('./helpers/schema');

/** A sheet of `count` leads with everything selected. */
function selectAll(count, settings = {}, responder = scoringBackend()) {
  const addon = loadAddon({
    sheets: [{ values: leadRows(count) }],
    responder,
    settings: Object.assign({ backendUrl: BACKEND_URL }, settings),
  });
  addon.sheet.select(`A2:F${count + 1}`);
  return addon;
}

test('1,203 rows with a limit of 500 → 3 requests in one fetchAll, row numbers kept in order', () => {
  const addon = selectAll(1203, { maxRows: 500 });
  const summary = addon.call('scoreSelectedRows');
  const requests = addon.fetch.scoreRequests();
  assert.equal(requests.length, 3);
  assert.deepEqual(addon.fetch.fetchAllCalls, [3]);
  assert.equal(addon.fetch.fetchCalls, 0);
  assert.deepEqual(requests.map((r) => r.body.rows.length), [500, 500, 203]);
  const rows = requests.flatMap((r) => r.body.rows.map((x) => x.row));
  assert.deepEqual(rows, Array.from({ length: 1203 }, (_, i) => i + 2));
  // Each row's values are that row's cells (not shifted by the chunking).
  const last = requests[2].body.rows[202];
  assert.equal(last.row, 1204);
  assert.equal(last.values[0], 'Company 1204');
  requests.forEach((r) => assertMatches('SheetScoreRequest', r.body));

  assert.equal(summary.sent, 1203);
  assert.equal(summary.scored, 1203);
  assert.equal(summary.distribution.reduce((a, b) => a + b, 0), 1203);
  assert.equal(summary.topLeads[0].score, 10);
  // One read for the header, one for the 1,203 rows.
  assert.deepEqual(addon.spreadsheet.reads, ['A1:F1', 'A2:F1204']);
});

test('the default limit is 500 rows per request', () => {
  const addon = selectAll(501);
  addon.call('scoreSelectedRows');
  assert.deepEqual(addon.fetch.scoreRequests().map((r) => r.body.rows.length), [500, 1]);
});

test('one chunk is sent with fetch, not fetchAll', () => {
  const addon = selectAll(20);
  addon.call('scoreSelectedRows');
  assert.equal(addon.fetch.fetchCalls, 1);
  assert.deepEqual(addon.fetch.fetchAllCalls, []);
});

test('many chunks go out at most 4 at a time', () => {
  const addon = selectAll(100, { maxRows: 10 });
  const summary = addon.call('scoreSelectedRows');
  assert.deepEqual(addon.fetch.fetchAllCalls, [4, 4, 2]);
  assert.equal(addon.fetch.fetchCalls, 0);
  assert.equal(summary.scored, 100);
});

test('one failed chunk: the others count, its rows are reported as not sent with the reason', () => {
  const backend = scoringBackend();
  const responder = (request) => (request.body && request.body.rows[0].row === 12 ?
    problem(502, 'Google Sheets returned 500 twice.') : backend(request));
  const addon = selectAll(30, { maxRows: 10 }, responder);
  const summary = addon.call('scoreSelectedRows');
  assert.equal(summary.scored, 20);
  assert.equal(summary.skippedCount, 10);
  assert.equal(summary.errors.length, 1);
  assert.match(summary.errors[0], /Google Sheets did not accept/);
  assert.equal(summary.skipped[0].count, 10);
  assert.deepEqual(summary.skipped[0].rows, [12, 13, 14, 15, 16, 17, 18, 19, 20, 21]);
  assert.match(summary.skipped[0].reason, /^Not sent: /);
});

test('every chunk failed: the run fails with the error, and the last summary is kept', () => {
  const addon = selectAll(30, { maxRows: 10 }, () => problem(503, 'No model bundle installed.'));
  const err = addon.error('scoreSelectedRows');
  assert.match(err.message, /No scoring model is available/);
  assert.equal(addon.call('getSidebarState').lastRun, null);
});

test('summary: counts, skip reasons grouped, scores, and the top leads linking to their rows', () => {
  const responder = scoringBackend({
    skip: (row) => (row === 5 || row === 6 ? 'Row moved: the sheet was sorted after it was read' : null),
    unscorable: (row) => row === 9,
  });
  const addon = loadAddon({
    sheets: [{ values: leadRows(12), filteredRows: [11] }],
    responder,
    settings: { backendUrl: BACKEND_URL, keyColumn: 'Email' },
  });
  addon.sheet.setCell(8, 1, '');
  for (let c = 1; c <= 6; c++) addon.sheet.setCell(10, c, '');
  addon.sheet.select('A2:F13');
  const s = addon.call('scoreSelectedRows');

  assert.equal(s.mode, 'selected');
  assert.equal(s.sheet, 'Leads');
  assert.equal(s.sent, 10, '12 rows minus one filtered and one empty');
  assert.equal(s.scored, 7, 'minus two moved and one the model could not score');
  assert.equal(s.skippedCount, 5);
  assert.deepEqual(s.skipped.map((g) => [g.reason, g.count, g.rows]), [
    ['Row moved: the sheet was sorted after it was read', 2, [5, 6]],
    ['Empty row', 1, [10]],
    ['Hidden by a filter', 1, [11]],
    ['Could not be scored: no usable values', 1, [9]],
  ]);
  assert.equal(s.moved, 2);
  assert.match(s.notice, /2 rows moved while scoring/);
  assert.deepEqual(s.model, { name: 'leadscore', version: '2024.11.1' });
  assert.deepEqual(s.warnings, ['Column "Status" is not used by the model.']);

  const scoredRows = [2, 3, 4, 7, 8, 12, 13];
  const expected = Array(10).fill(0);
  scoredRows.forEach((row) => { expected[scoreFor(row) - 1] += 1; });
  assert.deepEqual(s.distribution, expected);

  assert.ok(s.topLeads.length <= 5);
  const scores = s.topLeads.map((l) => l.score);
  assert.deepEqual(scores, [...scores].sort((a, b) => b - a));
  const top = s.topLeads[0];
  assert.equal(top.row, 7);
  // Named by the column that looks like a company or name (not the key column, an email),
  // with the backend's reasons.
  assert.equal(top.label, 'Company 7', 'named by the company column');
  assert.deepEqual(top.reasons, ['Lead Source = Referral ↑']);
  assert.equal(top.url, `${addon.spreadsheet.getUrl()}#gid=0&range=A7`);
  const row8 = s.topLeads.find((l) => l.row === 8);
  assert.equal(row8.label, 'lead8@example.com', 'a blank company: the next cell with text');

  // The sidebar shows the same summary when it is opened later.
  assert.deepEqual(addon.call('getSidebarState').lastRun, s);
});

test('a huge skip list still fits in the 9 kB a document property can hold', () => {
  const responder = scoringBackend({ skip: (row) => `Row ${row} changed after it was read (key ${'x'.repeat(40)})` });
  const addon = selectAll(600, { maxRows: 300 }, responder);
  const s = addon.call('scoreSelectedRows');
  assert.equal(s.skippedCount, 600);
  const stored = addon.properties.document.getProperty('leadscore.lastRun');
  assert.ok(stored.length <= 9000);
  const lastRun = JSON.parse(stored);
  assert.equal(lastRun.skippedCount, 600);
  assert.equal(lastRun.moved, 600);
});
