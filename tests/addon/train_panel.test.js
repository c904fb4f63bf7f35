'use strict';
/**
 * The Model card of the sidebar (addon/TrainPanel.html) in headless Chromium (Debian's
 * /usr/bin/chromium): the health card's three states, the Train form filled from the
 * sheet's own columns and values, progress, the result, Promote.
 *
 * UPDATE_SCREENSHOT=1 rewrites docs/model-*.png and docs/train-*.png.
 */
const { it } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const { describeInBrowser, installStub, skipReason } = require('./helpers/browser');
const { ROOT } = require('./helpers/loader');

const SKIP = skipReason('Model card tests');

const SID = '1AbCdEfGhIjKlMnOpQrStUv';
const VERSION = '20261202-120000-abcdef12';
const HEALTH = {
  name: SID, version: VERSION, active: true, status: 'ok', trained_at: '2026-12-02T12:00:00+00:00',
  leads: { rows: 1500, labelled: 1220, positives: 687, negatives: 533, open: 280 },
  heldout: { n: 244, base_rate: 0.56, auc: 0.82, precision: 0.73, recall: 0.84, threshold: 0.49 },
  in_words: ['Checked on 244 past leads it never learned from (56% of them closed).',
    'Of 10 leads it calls likely, 7 closed (precision 0.73).',
    'Of 10 leads that closed, it called 8 likely (recall 0.84).'],
  gates: { passed: true, forced: false, failures: [], min_auc: 0.75, min_precision: 0.65, min_recall: 0.75 },
  report_url: `/v1/models/${SID}/versions/${VERSION}/report`,
};
const FORCED = Object.assign({}, HEALTH, { status: 'degraded', gates: Object.assign({}, HEALTH.gates,
  { passed: false, forced: true, failures: ['Recall 0.43 at the decision threshold is not above 0.75.'] }) });
const OPTIONS = {
  sheet: 'Deals', model: SID, shared: false,
  columns: ['Company', 'Email', 'Lead Source', 'Stage', 'Monthly Value'],
  outcomes: { 'Lead Source': ['Event', 'Referral', 'Web'], Stage: ['Closed Lost', 'Closed Won', 'Open'] },
  suggested: { target: 'Stage', positive: 'Closed Won', value: 'Monthly Value', name: 'Company' },
};
const RESULT = Object.assign({}, HEALTH, {
  version: '20261202-130000-99887766', promoted: false, outcome: 'not promoted',
  reason: 'Recall 0.61 at the decision threshold is not above 0.75.', previous_version: VERSION,
  gates: Object.assign({}, HEALTH.gates, { passed: false, failures: ['Recall 0.61 at the decision threshold is not above 0.75.'] }),
  leakage: [{ column: 'Close Date', kind: 'date', why: 'filled in when the deal closed', figure: '98% of won rows', excluded: true }],
  counts: { rows: 1500, labelled: 1220, positives: 687, negatives: 533, open: 280 },
  data_quality: null,
  report_url: `/v1/models/${SID}/versions/20261202-130000-99887766/report`,
});

describeInBrowser('Model card in Chromium', SKIP, modelCardTests);

/**
 * The Model card tests, run when Chromium is installed.
 * @param {{browser: !Object, baseUrl: string}} env the browser and the served sidebar.
 */
function modelCardTests(env) {

  async function open(responses) {
    const context = await env.browser.newContext({ viewport: { width: 300, height: 900 }, timezoneId: 'UTC', locale: 'en-US' });
    const page = await context.newPage();
    page.errors = [];
    page.on('pageerror', (err) => page.errors.push(err));
    await page.addInitScript(installStub);
    await page.route((url) => !url.href.startsWith(env.baseUrl), (route) => route.abort());
    await page.addInitScript((answers) => { window.__gs.responses = answers; }, Object.assign({
      getSidebarState: { value: { settings: { backendUrl: 'https://leadscore.example.com', keyColumn: '', maxRows: 500,
        apiKeySet: false, autoRescore: { enabled: false, sheet: null } }, lastRun: null, sheet: 'Deals', columns: [] } },
      getTrainOptions: { value: OPTIONS },
    }, responses));
    await page.goto(`${env.baseUrl}/sidebar`);
    await page.waitForFunction(() => ['getModelHealth', 'getTrainOptions'].every(
      (n) => window.__gs.calls.some((c) => c.name === n)));
    return page;
  }

  /** Saves a screenshot of the Model card for docs/ (or a temporary file). */
  async function shot(page, name) {
    await page.mouse.move(0, 0);
    const docs = path.join(ROOT, 'docs', `${name}.png`);
    const target = process.env.UPDATE_SCREENSHOT === '1' || !fs.existsSync(docs) ? docs :
      path.join(os.tmpdir(), `leadscore-${name}.png`);
    await page.locator('#model-card').screenshot({ path: target });
    assert.ok(fs.statSync(target).size > 1000);
  }

  const calls = (page, name) => page.evaluate((n) => window.__gs.calls.filter((c) => c.name === n), name);

  it('health card: a model that passed its checks, with its figures in words and its report', async () => {
    const page = await open({ getModelHealth: { value: { state: 'passed', model: SID, health: HEALTH } },
      showModelReport: { value: null } });
    await page.waitForSelector('#health-body:not([hidden])');
    assert.equal(await page.isVisible('#health-forced'), false);
    assert.match(await page.textContent('#health-summary'), /Version 20261202-120000-abcdef12, trained 12\/2\/2026 on 1,220 past leads/);
    assert.match(await page.textContent('#health-words'), /Of 10 leads it calls likely, 7 closed/);
    assert.equal(await page.textContent('#health-gates'), 'Quality checks: passed.');
    await page.click('#health-report');
    assert.deepEqual((await calls(page, 'showModelReport'))[0].args, [HEALTH.report_url]);
    assert.deepEqual(page.errors, []);
    await shot(page, 'model-health-passed');
    await page.context().close();
  });

  it('health card: a forced model shows the red banner', async () => {
    const page = await open({ getModelHealth: { value: { state: 'forced', model: SID, health: FORCED } } });
    await page.waitForSelector('#health-forced:not([hidden])');
    assert.match(await page.textContent('#health-forced'), /failed its quality checks and was switched on anyway/);
    assert.equal(await page.textContent('#health-gates'), 'Quality checks: failed, switched on anyway.');
    await shot(page, 'model-health-forced');
    await page.context().close();
  });

  it('health card: no model yet says the default model scores and offers training', async () => {
    const page = await open({ getModelHealth: { value: { state: 'none', model: SID, health: null } } });
    await page.waitForSelector('#health-none:not([hidden])');
    assert.equal(await page.isVisible('#health-body'), false);
    await page.click('#train summary');
    await shot(page, 'model-health-none');
    await page.context().close();
  });

  it('Train offers the sheet\'s own columns and values, shows progress and the result; Promote calls the backend', async () => {
    const page = await open({
      getModelHealth: { value: { state: 'passed', model: SID, health: HEALTH } },
      setModelName: { value: SID },
      startTraining: { manual: true },
      getTrainingJob: { manual: true },
      promoteModel: { manual: true },
    });
    await page.click('#train summary');
    await page.waitForFunction(() => document.querySelectorAll('#train-target option').length > 0);
    const texts = (sel) => page.$$eval(`${sel} option`, (os) => os.map((o) => o.textContent));
    assert.deepEqual(await texts('#train-target'), ['Lead Source', 'Stage']);
    assert.equal(await page.inputValue('#train-target'), 'Stage');
    assert.deepEqual(await texts('#train-positive'), ['Closed Lost', 'Closed Won', 'Open']);
    assert.equal(await page.inputValue('#train-positive'), 'Closed Won');
    assert.equal(await page.inputValue('#train-value'), 'Monthly Value');
    await page.selectOption('#train-target', 'Lead Source');
    assert.deepEqual(await texts('#train-positive'), ['Event', 'Referral', 'Web'], 'values follow the outcome column');
    await page.selectOption('#train-target', 'Stage');
    await page.selectOption('#train-positive', 'Closed Won');

    await page.click('#train-start');
    await page.waitForFunction(() => window.__gs.pending.some((p) => p.name === 'startTraining'));
    assert.deepEqual((await calls(page, 'startTraining'))[0].args,
      [{ target: 'Stage', positive: 'Closed Won', value: 'Monthly Value' }]);
    assert.equal(await page.isDisabled('#train-start'), true, 'Train is disabled while it runs');
    await page.evaluate(() => window.__gs.respond('startTraining', { value: { state: 'training', sent: 1500, total: 1500,
      job: { job_id: 'j1', state: 'queued', stage: 'queued', percent: 0 } } }));
    await page.waitForFunction(() => window.__gs.pending.some((p) => p.name === 'getTrainingJob'));
    await page.evaluate(() => window.__gs.respond('getTrainingJob', { value: { job_id: 'j1', state: 'running', stage: 'classifier', percent: 42 } }));
    await page.waitForFunction(() => /42%/.test(document.getElementById('train-stage').textContent));
    assert.match(await page.textContent('#train-stage'), /Learning what closes… 42%/);
    await shot(page, 'train-progress');

    await page.waitForFunction(() => window.__gs.pending.some((p) => p.name === 'getTrainingJob'), null, { timeout: 5000 });
    await page.evaluate((result) => window.__gs.respond('getTrainingJob', { value: { job_id: 'j1', state: 'succeeded',
      stage: 'done', percent: 100, result } }), RESULT);
    await page.waitForSelector('#train-result:not([hidden])');
    assert.match(await page.textContent('#train-outcome'), /did not pass the quality checks, so the current model keeps scoring/);
    assert.match(await page.textContent('#train-failures'), /Recall 0.61/);
    assert.match(await page.textContent('#train-leakage'), /Close Date: filled in when the deal closed/);
    assert.equal(await page.textContent('#train-promote'), 'Promote anyway');
    assert.equal(await page.textContent('#train-keep'), 'Keep current');
    await shot(page, 'train-result');

    await page.click('#train-promote');
    await page.waitForFunction(() => window.__gs.pending.some((p) => p.name === 'promoteModel'));
    assert.deepEqual((await calls(page, 'promoteModel'))[0].args, [RESULT.version, true]);
    await page.evaluate((h) => window.__gs.respond('promoteModel', { value: h }),
      Object.assign({}, FORCED, { version: RESULT.version }));
    await page.waitForSelector('#health-forced:not([hidden])');
    assert.match(await page.textContent('#train-outcome'), /is now scoring this sheet/);
    assert.deepEqual(page.errors, []);
    await page.context().close();
  });
}
