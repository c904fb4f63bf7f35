'use strict';
/** "Where to sell": the request the add-on sends, the new tab it writes, and its errors. */
const test = require('node:test');
const assert = require('node:assert/strict');

const { loadAddon } = require('./helpers/loader');
const { BACKEND_URL } = require('./helpers/backend');
const { assertMatches } = require('./helpers/schema');

const HEADER = ['Company', 'Industry', 'ZIP', 'Status', 'MRR', 'Lead Score'];
const VALUES = [
  HEADER,
  ['Acme', 'Finance', 2134, 'Won', 5000, 7],
  ['=Beta', 'Finance', '46220', 'Open', '', 3],
  ['Gamma', 'Retail', '46204', 'Lost', '', ''],
];
const FORM = {
  target: 'Status', positive: 'Won', value: 'MRR', industry: 'Industry', zip: 'ZIP',
  sites: 'Boston, 02108\nIndianapolis;46204\n', radius: '100',
};
const ANSWER = {
  summary: ['Indianapolis: 0 customers within 100 mi, 2 prospects; 1 of them is in industries paying above average (Finance).'],
  notes: [],
  ranked_by: 'industry value',
  zip_column: 'ZIP',
  located: { rows: 3, located: 3, blank: 0, repaired_leading_zeros: 1, unknown: 0, unknown_examples: [] },
  regions: { header: ['kind', 'name'], rows: [['site', 'Boston'], ['site', 'Indianapolis']] },
  industries: null,
  targets: {
    header: ['Rank', 'Row', 'Nearest Site', 'Miles', 'Industry Avg Value', 'Company', 'Industry', 'ZIP', 'Status', 'MRR'],
    rows: [[1, 3, 'Indianapolis', 6.5, 5000, '=Beta', 'Finance', '46220', 'Open', null]],
  },
};

function world(responder) {
  return loadAddon({
    sheets: [{ name: 'Leads', values: VALUES }],
    responder: responder || (() => ({ status: 200, body: ANSWER })),
    settings: { backendUrl: BACKEND_URL, keyColumn: '', maxRows: 500, apiKey: '' },
  });
}

test('sends every data row, the sites and the columns; writes the targets into a new tab', () => {
  const addon = world();
  const result = addon.call('findWhereToSell', FORM);
  const sent = addon.fetch.requests.filter((r) => r.url === BACKEND_URL + '/v1/regions');
  assert.equal(sent.length, 1);
  const body = sent[0].body;
  assert.deepEqual(body.header, ['Company', 'Industry', 'ZIP', 'Status', 'MRR']);  // not our output columns
  assert.deepEqual(body.rows[0], ['Acme', 'Finance', 2134, 'Won', 5000]);
  assert.equal(body.rows.length, 3);
  assert.deepEqual(body.sites, [{ name: 'Boston', zip: '02108' }, { name: 'Indianapolis', zip: '46204' }]);
  assert.deepEqual([body.target, body.positive, body.value, body.industry, body.zip, body.radius],
    ['Status', 'Won', 'MRR', 'Industry', 'ZIP', 100]);
  assert.ok(sent[0].headers.Authorization, 'signed in with the ID token');
  assertMatches('RegionsRequest', body);
  assertMatches('RegionsResponse', ANSWER);

  assert.equal(result.targets, 1);
  assert.match(result.tab, /^Where to sell \d{4}-\d{2}-\d{2}$/);
  assert.deepEqual(result.summary, ANSWER.summary);
  const tab = addon.spreadsheet.getSheetByName(result.tab);
  assert.deepEqual(tab.values[0], ANSWER.targets.header);
  assert.equal(tab.cell(2, 6), "'=Beta", 'a formula-like value is written as text');
  assert.equal(tab.cell(2, 10), '');
  assert.equal(tab.frozenRows, 1);
  // one write, and only into the new tab: the user's sheet is unchanged
  assert.deepEqual(addon.spreadsheet.writes.map((w) => w.sheet), [result.tab]);
  assert.deepEqual(addon.spreadsheet.getSheetByName('Leads').values, VALUES);
  // the form is remembered for next time
  assert.equal(addon.call('getRegionSettings').sites, FORM.sites.trim());
});

test('a second run gets its own tab', () => {
  const addon = world();
  const first = addon.call('findWhereToSell', FORM).tab;
  const second = addon.call('findWhereToSell', FORM).tab;
  assert.equal(second, first + ' (2)');
});

test('no targets: no tab is created', () => {
  const addon = world(() => ({ status: 200, body: Object.assign({}, ANSWER, { targets: { header: ['Rank'], rows: [] } }) }));
  const result = addon.call('findWhereToSell', FORM);
  assert.equal(result.tab, null);
  assert.equal(addon.spreadsheet.getSheets().length, 1);
});

test('a sites line that cannot be read is named, and nothing is sent', () => {
  const addon = world();
  const err = addon.error('findWhereToSell', Object.assign({}, FORM, { sites: 'Boston, 02108\nIndianapolis' }));
  assert.match(err.message, /line 2 \("Indianapolis"\).*"Houston, 77002"/);
  assert.equal(addon.fetch.requests.filter((r) => r.url.endsWith('/v1/regions')).length, 0);
});

test('the backend\'s problem detail reaches the user', () => {
  const addon = world(() => ({
    status: 400,
    headers: { 'Content-Type': 'application/problem+json' },
    body: { type: 'about:blank', title: 'Bad input', status: 400, detail: "Site 'Nowhere' (row 2): '99999' is not a known US ZIP code." },
  }));
  const err = addon.error('findWhereToSell', FORM);
  assert.match(err.message, /99999' is not a known US ZIP code/);
  assert.equal(addon.spreadsheet.getSheets().length, 1);
});

test('the sidebar has the "Where to sell" form, wired to functions that exist', () => {
  const addon = world();
  addon.call('showSidebar');
  const page = addon.ui.sidebars[0].getContent();
  assert.match(page, /<h2>Where to sell<\/h2>/);
  assert.match(page, /id="regions-sites"/);
  for (const name of ['findWhereToSell', 'getRegionSettings']) {
    assert.match(page, new RegExp(`\\.${name}\\(`));
    assert.equal(typeof addon.context[name], 'function', name);
  }
  assert.doesNotMatch(page, /innerHTML/, 'sheet text is inserted as text only');
});
