'use strict';
/**
 * Training from the sidebar (addon/Train.gs): the panel's options come from the sheet's
 * own columns and values; the history goes out in chunks (resumable across calls, so no
 * call nears Apps Script's 6-minute limit); the job is polled; Promote calls the backend;
 * the health card's states.
 */
const test = require('node:test');
const assert = require('node:assert/strict');

const { loadAddon } = require('./helpers/loader');
const { BACKEND_URL, leadRows, problem, scoringBackend } = require('./helpers/backend');
const { assertMatches } = require('./helpers/schema');

const SID = '1AbCdEfGhIjKlMnOpQrStUv';
const HEADER = ['Company', 'Email', 'Lead Source', 'Stage', 'Monthly Value', 'Notes'];

/** A history sheet: `count` leads, most closed Won or Lost. */
function history(count) {
  const values = [HEADER.slice()];
  for (let i = 0; i < count; i++) {
    values.push([`Company ${i}`, `lead${i}@example.com`, ['Referral', 'Web', 'Event'][i % 3],
      i % 5 === 0 ? 'Open' : (i % 2 ? 'Closed Won' : 'Closed Lost'), i % 2 ? 500 + i : '', `note ${i}`]);
  }
  return values;
}

const HEALTH = {
  name: SID, version: '20261202-120000-abcdef12', active: true, status: 'ok', trained_at: '2026-12-02T12:00:00+00:00',
  leads: { rows: 1200, labelled: 960, positives: 480, negatives: 480, open: 240 },
  heldout: { n: 192, base_rate: 0.5, auc: 0.81, precision: 0.72, recall: 0.8, threshold: 0.5 },
  in_words: ['Of 10 leads it calls likely, 7 closed (precision 0.72).'],
  gates: { passed: true, forced: false, failures: [], min_auc: 0.75, min_precision: 0.65, min_recall: 0.75 },
  report_url: `/v1/models/${SID}/versions/20261202-120000-abcdef12/report`,
};

/** A backend that takes uploads and trains (answers shaped like backend/openapi.json). */
function trainingBackend(state = {}) {
  state.uploads = state.uploads || {};
  return (request) => {
    const path = request.url.slice(BACKEND_URL.length);
    let m;
    if ((m = /^\/v1\/models\/([^/]+)\/uploads$/.exec(path)) && request.method === 'post') {
      state.uploads.u1 = { header: request.body.header, rows: [] };
      return { status: 201, body: { upload_id: 'u1', model: decodeURIComponent(m[1]), rows: 0 } };
    }
    if ((m = /^\/v1\/models\/([^/]+)\/uploads\/u1$/.exec(path)) && request.method === 'post') {
      state.uploads.u1.rows.push(...request.body.rows);
      return { status: 200, body: { upload_id: 'u1', model: decodeURIComponent(m[1]), rows: state.uploads.u1.rows.length } };
    }
    if (/^\/v1\/models\/[^/]+\/train$/.test(path)) {
      return { status: 202, body: { job_id: 'j1', model: SID, state: 'queued', stage: 'queued', percent: 0, status_url: '/v1/jobs/j1' } };
    }
    if (path === '/v1/jobs/j1') {
      return { status: 200, body: { job_id: 'j1', model: SID, state: 'running', stage: 'classifier', percent: 42, status_url: '/v1/jobs/j1' } };
    }
    if (/\/promote$/.test(path)) {
      return { status: 200, body: Object.assign({}, HEALTH, { version: request.body.version, status: request.body.force ? 'degraded' : 'ok' }) };
    }
    if (path === `/v1/models/${SID}`) {
      return state.health ? { status: 200, body: state.health } : problem(404, `There is no model named '${SID}' yet.`,
        { type: 'https://leadscore.dev/problems/not-found', title: 'Not found' });
    }
    return problem(404, 'Not found');
  };
}

function addonWith(count, state = {}, settings = {}) {
  return loadAddon({
    spreadsheetId: SID,
    sheets: [{ name: 'Deals', values: history(count) }],
    responder: trainingBackend(state),
    settings: Object.assign({ backendUrl: BACKEND_URL, maxRows: 400 }, settings),
  });
}

test('the Train panel offers the sheet\'s own columns, the outcome column\'s values, and suggestions', () => {
  const options = addonWith(50).call('getTrainOptions');
  assert.deepEqual(options.columns, HEADER);
  assert.equal(options.sheet, 'Deals');
  assert.equal(options.model, SID);
  assert.deepEqual(options.outcomes.Stage, ['Closed Lost', 'Closed Won', 'Open']);
  assert.ok(options.outcomes['Lead Source'], 'any column with a few values may be the outcome');
  assert.equal(options.outcomes.Email, undefined, 'a column of unique values is not offered as an outcome');
  assert.deepEqual(options.suggested, { target: 'Stage', positive: 'Closed Won', value: 'Monthly Value', name: 'Company' });
});

test('Train sends the header, then every row in chunks under the row limit, then starts the job', () => {
  const state = {};
  const addon = addonWith(1001, state);
  let progress = addon.call('startTraining', { target: 'Stage', positive: 'Closed Won', value: 'Monthly Value' });
  while (progress.state === 'uploading') {
    progress = addon.call('continueTraining', progress);
  }
  assert.equal(progress.state, 'training');
  assert.equal(progress.sent, 1001);
  assert.equal(progress.job.job_id, 'j1');
  const bodies = addon.fetch.requests.filter((r) => /\/uploads\/u1$/.test(r.url)).map((r) => r.body.rows.length);
  assert.deepEqual(bodies, [400, 400, 201]);
  assert.deepEqual(state.uploads.u1.header, HEADER);
  assert.equal(state.uploads.u1.rows.length, 1001);
  assert.deepEqual(state.uploads.u1.rows[1000], ['Company 1000', 'lead1000@example.com', 'Web', 'Open', '', 'note 1000']);
  const train = addon.fetch.requests.find((r) => r.url.endsWith('/train'));
  assert.equal(train.url, `${BACKEND_URL}/v1/models/${SID}/train`);
  assert.deepEqual(train.body, { upload_id: 'u1', target: 'Stage', positive: 'Closed Won', value: 'Monthly Value',
    spreadsheet_id: SID, sheet: 'Deals' });
  assertMatches('TrainRequest', train.body);
  assertMatches('UploadStart', addon.fetch.requests[0].body);
  assert.ok(addon.fetch.requests.every((r) => r.muteHttpExceptions && r.headers.Authorization));
});

test('a long upload stops before the call\'s time budget and resumes where it stopped', () => {
  const state = {};
  const addon = addonWith(900, state);
  let now = 0;
  addon.get('Date').now = () => { now += 3 * 60 * 1000; return now; };  // every chunk "takes" 3 minutes
  const first = addon.call('startTraining', { target: 'Stage', positive: 'Closed Won' });
  assert.equal(first.state, 'uploading');
  assert.ok(first.sent > 0 && first.sent < 900, `sent ${first.sent}`);
  let progress = first;
  while (progress.state === 'uploading') {
    progress = addon.call('continueTraining', progress);
  }
  assert.equal(state.uploads.u1.rows.length, 900);
  assert.deepEqual(state.uploads.u1.rows.map((r) => r[0]), history(900).slice(1).map((r) => r[0]), 'each row once, in order');
});

test('a choice that is not in the sheet is refused before anything is sent', () => {
  const addon = addonWith(20);
  const err = addon.error('startTraining', { target: 'Statuz', positive: 'Won' });
  assert.match(err.message, /no column "Statuz"/);
  assert.equal(addon.fetch.requests.length, 0);
});

test('progress is polled from the job; Promote and Promote anyway call the backend', () => {
  const addon = addonWith(10);
  const job = addon.call('getTrainingJob', 'j1');
  assert.deepEqual([job.state, job.stage, job.percent], ['running', 'classifier', 42]);
  const health = addon.call('promoteModel', 'v2', false);
  const forced = addon.call('promoteModel', 'v3', true);
  const promotes = addon.fetch.requests.filter((r) => r.url.endsWith('/promote'));
  assert.deepEqual(promotes.map((r) => r.body), [{ version: 'v2', force: false }, { version: 'v3', force: true }]);
  promotes.forEach((r) => assertMatches('PromoteRequest', r.body));
  assert.equal(health.status, 'ok');
  assert.equal(forced.status, 'degraded');
});

test('the health card: passed, failed-forced and no model yet', () => {
  assert.deepEqual(addonWith(5).call('getModelHealth'), { state: 'none', model: SID, health: null });
  const passed = addonWith(5, { health: HEALTH }).call('getModelHealth');
  assert.equal(passed.state, 'passed');
  assertMatches('ModelHealth', passed.health);
  const forcedHealth = Object.assign({}, HEALTH, { status: 'degraded',
    gates: Object.assign({}, HEALTH.gates, { passed: false, forced: true, failures: ['Recall 0.41 is not above 0.75.'] }) });
  const forced = addonWith(5, { health: forcedHealth }).call('getModelHealth');
  assert.equal(forced.state, 'forced');
  assertMatches('ModelHealth', forced.health);
});

test('a shared model name is validated and used for training', () => {
  const addon = addonWith(10);
  assert.equal(addon.call('setModelName', 'emea-sales'), 'emea-sales');
  assert.equal(addon.call('getTrainOptions').shared, true);
  assert.match(addon.error('setModelName', '../other').message, /letters, digits/);
  addon.call('startTraining', { target: 'Stage', positive: 'Closed Won' });
  assert.ok(addon.fetch.requests.every((r) => r.url.startsWith(`${BACKEND_URL}/v1/models/emea-sales/`)));
  assert.equal(addon.call('setModelName', ''), SID);
});

test('scoring names the shared model when one is set, and no model otherwise (the sheet\'s own is the default)', () => {
  const addon = loadAddon({ spreadsheetId: SID, sheets: [{ values: leadRows(3) }], responder: scoringBackend(),
    settings: { backendUrl: BACKEND_URL } });
  addon.sheet.select('A2:F4');
  addon.call('scoreSelectedRows');
  assert.equal(addon.fetch.scoreRequests()[0].body.model, undefined);
  addon.call('setModelName', 'emea-sales');
  addon.call('scoreSelectedRows');
  const body = addon.fetch.scoreRequests()[1].body;
  assert.equal(body.model, 'emea-sales');
  assertMatches('SheetScoreRequest', body);
});

test('top leads are listed by the column the user picks, by default one that looks like a company', () => {
  const addon = loadAddon({ spreadsheetId: SID, sheets: [{ values: leadRows(3) }], responder: scoringBackend(),
    settings: { backendUrl: BACKEND_URL, keyColumn: 'Email' } });
  addon.sheet.select('A2:F4');
  const before = addon.call('scoreSelectedRows');
  assert.ok(before.topLeads.every((l) => /^Company \d+$/.test(l.label)));
  assert.ok(before.topLeads.every((l) => l.reasons.length >= 1 && l.reasons.length <= 3));
  assert.equal(addon.call('getTrainOptions').nameColumn, 'Company');
  assert.equal(addon.call('setNameColumn', 'Lead Source'), 'Lead Source');
  const after = addon.call('scoreSelectedRows');
  assert.ok(after.topLeads.every((l) => ['Referral', 'Web', 'Event', 'Outbound'].includes(l.label)));
  assert.match(addon.error('setNameColumn', 'Nope').message, /no column "Nope"/);
  assert.equal(addon.call('setNameColumn', ''), 'Company');
});
