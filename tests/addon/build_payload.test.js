'use strict';
/** tests/addon/build_payload.js: the requests for a sheet description, for contract tests. */
const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const { spawnSync } = require('node:child_process');

const { assertMatches } = require('./helpers/schema');

const SCRIPT = path.join(__dirname, 'build_payload.js');

/** Runs the script with `input` on stdin. */
function run(input) {
  const result = spawnSync(process.execPath, [SCRIPT], { input: JSON.stringify(input), encoding: 'utf8', timeout: 20000 });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

const SHEET = {
  sheet: 'Leads',
  header: ['Company', 'Email', 'Lead Source', 'Monthly Ad Spend', 'Created', 'Lead Score', 'Model Version'],
  rows: [
    ['Acme', 'a@acme.com', 'Referral', 1200, { $date: '2024-03-01T00:00:00Z' }, '', ''],
    ['Globex', 'g@globex.com', 'Web', '$12,000', null, 7, 'v3'],
    ['Initech', 'i@initech.com', 'Event', true, '', '', ''],
    ['', '', '', '', '', '', ''],
    ['Umbrella', 'u@umbrella.com', 'Web', 300, { $date: '2024-03-01T09:30:00Z' }, '', ''],
  ],
  settings: { backendUrl: 'http://127.0.0.1:8080/', keyColumn: 'Email', apiKey: 'dev-key' },
};

test('a selection: one body per chunk, the URL and headers, bodies valid against the OpenAPI schema', () => {
  const { status, stdout, stderr } = run(Object.assign({}, SHEET, { selection: 'A2:F4', settings: Object.assign({}, SHEET.settings, { maxRows: 2 }) }));
  assert.equal(status, 0, stderr);
  const out = JSON.parse(stdout);
  assert.equal(out.mode, 'selected');
  assert.equal(out.url, 'http://127.0.0.1:8080/v1/sheets/score');
  assert.equal(out.method, 'POST');
  assert.deepEqual(out.headers, { 'Content-Type': 'application/json', 'X-API-Key': 'dev-key' });
  assert.equal(out.bodies.length, 2);
  assert.deepEqual(out.bodies.map((b) => b.rows.map((r) => r.row)), [[2, 3], [4]]);
  assert.deepEqual(out.bodies[0].header, ['Company', 'Email', 'Lead Source', 'Monthly Ad Spend', 'Created']);
  assert.deepEqual(out.bodies[0].key_columns, ['Email']);
  assert.deepEqual(out.bodies[0].rows[0].values, ['Acme', 'a@acme.com', 'Referral', 1200, '2024-03-01']);
  assert.deepEqual(out.bodies[0].rows[1].values, ['Globex', 'g@globex.com', 'Web', '$12,000', '']);
  out.bodies.forEach((body, i) => {
    assertMatches('SheetScoreRequest', body);
    assert.equal(out.payloads[i], JSON.stringify(body), 'payloads are the exact text sent');
  });
});

test('no selection: the unscored rows, judged against the given model version', () => {
  const { status, stdout, stderr } = run(Object.assign({}, SHEET, { selection: null, model_version: 'v3' }));
  assert.equal(status, 0, stderr);
  const out = JSON.parse(stdout);
  assert.equal(out.mode, 'unscored');
  assert.deepEqual(out.bodies.map((b) => b.rows.map((r) => r.row)), [[2, 4, 6]]);
  assert.equal(out.bodies[0].rows[2].values[4], '2024-03-01T09:30:00Z');
});

test('multi-range selections and hidden rows; the ID token when there is no API key', () => {
  const input = Object.assign({}, SHEET, {
    selection: ['A2:A3', 'B5:B6'],
    filtered_rows: [3],
    settings: { backendUrl: 'http://127.0.0.1:8080' },
    identity_token: 'tok',
  });
  const out = JSON.parse(run(input).stdout);
  assert.deepEqual(out.bodies[0].rows.map((r) => r.row), [2, 6]);
  assert.deepEqual(out.headers, { 'Content-Type': 'application/json', Authorization: 'Bearer tok' });
  assert.deepEqual(out.skipped, [
    { reason: 'Hidden by a filter', count: 1, rows: [3] },
    { reason: 'Empty row', count: 1, rows: [5] },
  ]);
});

test('unusable input exits 2 with the reason on stderr', () => {
  const bad = run({ header: 'nope' });
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /needs "header"/);
  const badKey = run(Object.assign({}, SHEET, { selection: 'A2', settings: { keyColumn: 'Lead ID' } }));
  assert.equal(badKey.status, 2);
  assert.match(badKey.stderr, /"Lead ID" is not in row 1/);
});
