'use strict';
/** The segment table the sidebar shows (GET /v1/model/segments) and the Scoring Rules tab sent with requests. */
const test = require('node:test');
const assert = require('node:assert/strict');

const { loadAddon } = require('./helpers/loader');
const { BACKEND_URL, MODEL, leadRows, problem, scoringBackend } = require('./helpers/backend');
const { assertMatches } = require('./helpers/schema');

/** A SegmentTable answer, as the backend sends it. */
const SEGMENTS = Object.freeze({
  model: MODEL,
  method: 'k-means on per-lead contributions, k = 3 chosen in 3–8 by the highest silhouette (0.56)',
  base_rate: 0.36,
  segments: [
    { id: 0, name: 'High Monthly Ad Spend, Partner, Referral', leads: 276, share: 0.31, labelled: 220, converted: 162,
      conversion_rate: 0.74, lift: 2.06, mean_mrr_won: 969.75, traits: [],
      recommendation: 'Converts at 2.1× the base rate with above-median MRR: route to senior reps first.' },
    { id: 2, name: 'Low Monthly Ad Spend, Cold Outbound, Social', leads: 368, share: 0.41, labelled: 290, converted: 20,
      conversion_rate: 0.07, lift: 0.19, mean_mrr_won: null, traits: [],
      recommendation: 'Converts at 0.2× the base rate: nurture by email; do not spend call time yet.' },
  ],
});

/** A backend that also answers GET /v1/model/segments with `answer`. */
function withSegments(answer) {
  const scoring = scoringBackend();
  return (request) => (request.url.endsWith('/v1/model/segments') ? answer : scoring(request));
}

test('the backend answer used here is a SegmentTable', () => {
  assertMatches('SegmentTable', SEGMENTS);
});

test('getSegments asks GET /v1/model/segments with the sign-in header and returns the table for the sidebar', () => {
  const addon = loadAddon({
    sheets: [{ name: 'Leads', values: leadRows(3) }],
    responder: withSegments({ status: 200, body: SEGMENTS }),
    settings: { backendUrl: BACKEND_URL },
  });
  const table = addon.call('getSegments');
  const request = addon.fetch.requests.find((r) => r.url === `${BACKEND_URL}/v1/model/segments`);
  assert.equal(request.method, 'get');
  assert.equal(request.headers.Authorization, 'Bearer id-token-for-tests');
  assert.equal(request.muteHttpExceptions, true);
  assert.deepEqual(table.model, MODEL);
  assert.equal(table.baseRate, 0.36);
  assert.deepEqual(table.segments.map((s) => [s.name, s.share, s.conversionRate, s.lift, s.meanMrrWon]), [
    ['High Monthly Ad Spend, Partner, Referral', 0.31, 0.74, 2.06, 969.75],
    ['Low Monthly Ad Spend, Cold Outbound, Social', 0.41, 0.07, 0.19, null],
  ]);
  assert.match(table.segments[0].recommendation, /senior reps/);
});

test('getSegments says why when the backend has no model', () => {
  const addon = loadAddon({
    sheets: [{ name: 'Leads', values: leadRows(3) }],
    responder: withSegments(problem(503, 'No active model in models.')),
    settings: { backendUrl: BACKEND_URL },
  });
  const err = addon.error('getSegments');
  assert.equal(err.name, 'ScoringError');
  assert.match(err.message, /model/i);
});

test('getSegments refuses an answer that is not a segment table', () => {
  const addon = loadAddon({
    sheets: [{ name: 'Leads', values: leadRows(3) }],
    responder: withSegments({ status: 200, body: { model: MODEL } }),
    settings: { backendUrl: BACKEND_URL },
  });
  assert.equal(addon.error('getSegments').name, 'ScoringError');
});

const RULES_TAB = [
  ['Group', 'Column', 'Condition', 'Value', 'Points', 'Note'],
  ['fit', '', 'max', 40, '', ''],
  ['fit', 'Lead Source', 'is', 'Referral', 25, 'Referred by a customer'],
  ['', '', '', '', '', ''],
  ['', 'Monthly Ad Spend', 'at least', 1200, 15, ''],
];

test('a Scoring Rules tab goes with every score request, empty rows left out', () => {
  const addon = loadAddon({
    sheets: [{ name: 'Leads', values: leadRows(5) }, { name: 'Scoring Rules', values: RULES_TAB }],
    responder: scoringBackend(),
    settings: { backendUrl: BACKEND_URL, maxRows: 2 },
  });
  addon.sheet.activate();
  addon.sheet.select('A2:F6');
  addon.call('scoreSelectedRows');
  const requests = addon.fetch.scoreRequests();
  assert.ok(requests.length >= 2, 'several chunks');
  for (const request of requests) {
    assert.deepEqual(request.body.rules, [RULES_TAB[0], RULES_TAB[1], RULES_TAB[2], RULES_TAB[4]]);
    assertMatches('SheetScoreRequest', request.body);
  }
});

test('without a Scoring Rules tab no rules are sent', () => {
  const addon = loadAddon({
    sheets: [{ name: 'Leads', values: leadRows(3) }],
    responder: scoringBackend(),
    settings: { backendUrl: BACKEND_URL },
  });
  addon.sheet.select('A2:F3');
  addon.call('scoreSelectedRows');
  const [request] = addon.fetch.scoreRequests();
  assert.equal('rules' in request.body, false);
});

/** A backend with no model: /healthz is a 503 problem; scoring still answers (by the rules sent). */
function rulesOnlyBackend() {
  const scoring = scoringBackend({ model: { name: 'rules', version: 'rules' } });
  return (request) => (request.url.endsWith('/healthz') ? problem(503, 'No active model in models.') : scoring(request));
}

test('with no model on the backend, Score all unscored rows scores by the Scoring Rules tab', () => {
  const addon = loadAddon({
    sheets: [{ name: 'Leads', values: leadRows(4) }, { name: 'Scoring Rules', values: RULES_TAB }],
    responder: rulesOnlyBackend(),
    settings: { backendUrl: BACKEND_URL },
  });
  addon.sheet.activate();
  const summary = addon.call('scoreUnscoredRows');
  const requests = addon.fetch.scoreRequests();
  assert.equal(requests.length, 1);
  assert.deepEqual(requests[0].body.rows.map((r) => r.row), [2, 3, 4, 5]);
  assert.ok(Array.isArray(requests[0].body.rules));
  assert.equal(summary.scored, 4);
  assert.deepEqual(summary.model, { name: 'rules', version: 'rules' });
});

test('with no model and no Scoring Rules tab, Score all unscored rows says there is no model', () => {
  const addon = loadAddon({
    sheets: [{ name: 'Leads', values: leadRows(4) }],
    responder: rulesOnlyBackend(),
    settings: { backendUrl: BACKEND_URL },
  });
  const err = addon.error('scoreUnscoredRows');
  assert.equal(err.code, 'no_model');
  assert.equal(addon.fetch.scoreRequests().length, 0);
});
