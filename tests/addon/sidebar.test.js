'use strict';
/**
 * The sidebar page in headless Chromium (Debian's /usr/bin/chromium, never a downloaded
 * browser). The page is the one showSidebar() renders (partials expanded as HtmlService
 * does), served on 127.0.0.1, with google.script.run replaced by a stub that records
 * calls and answers them when the test says so.
 *
 * UPDATE_SCREENSHOT=1 (npm run screenshot) rewrites docs/sidebar.png.
 */
const { it } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const { describeInBrowser, installStub, skipReason } = require('./helpers/browser');
const { ROOT } = require('./helpers/loader');

const SKIP = skipReason('sidebar tests');
if (SKIP) process.stderr.write(`SKIPPING sidebar tests: ${SKIP}\n`);

const SETTINGS = {
  backendUrl: 'https://leadscore.example.com',
  keyColumn: 'Email',
  maxRows: 500,
  apiKeySet: false,
  autoRescore: { enabled: true, sheet: 'Leads' },
};

/** A realistic summary, as scoreSelectedRows returns it. */
function summary(minutesAgo = 2) {
  const url = (row) => `https://docs.google.com/spreadsheets/d/1AbCdEfGhIjKlMn/edit#gid=0&range=A${row}`;
  const lead = (row, label, score, probability, mrr, segment) => ({ row, label, score, probability, mrr, segment, url: url(row) });
  return {
    mode: 'selected',
    sheet: 'Leads',
    sheetId: 0,
    startedAt: new Date(Date.now() - minutesAgo * 60000).toISOString(),
    durationMs: 2300,
    sent: 120,
    scored: 118,
    skippedCount: 3,
    skipped: [
      { reason: 'Row moved: the sheet was sorted after it was read', count: 2, rows: [14, 15] },
      { reason: 'Hidden by a filter', count: 1, rows: [22] },
    ],
    moved: 2,
    distribution: [4, 7, 10, 13, 16, 18, 17, 14, 11, 8],
    topLeads: [
      lead(37, 'Northwind Traders', 10, 0.87, 2400, 'Enterprise referral'),
      lead(12, 'Acme Robotics', 10, 0.84, 1950, 'Enterprise referral'),
      lead(58, 'Globex Health', 9, 0.79, 3100, 'Mid-market'),
      lead(9, 'Initech Labs', 9, 0.76, 1400, 'Mid-market'),
      lead(81, 'Umbrella Logistics', 9, 0.71, 1250, 'Self-serve'),
    ],
    model: { name: 'leadscore', version: '2024.11.1' },
    warnings: ['Column "Notes" is not used by the model.'],
    errors: [],
    notice: '2 rows moved while scoring (the sheet was sorted, or rows were added or deleted), so their scores were not written. Score them again.',
  };
}

/** The PNG's width and height, from its IHDR chunk. */
function pngSize(file) {
  const buf = fs.readFileSync(file);
  assert.equal(buf.toString('latin1', 1, 4), 'PNG');
  return { width: buf.readUInt32BE(16), height: buf.readUInt32BE(20) };
}

// Without Chromium: a counted skip with its reason, never a silent pass.
describeInBrowser('sidebar in Chromium', SKIP, sidebarTests);

/**
 * The sidebar tests, run when Chromium is installed.
 * @param {{browser: !Object, baseUrl: string}} env the browser and the served sidebar.
 */
function sidebarTests(env) {

  /**
   * Opens the sidebar at 300 px with the stub and the answers given.
   * @param {Object} responses answers by server function name.
   * @return {Promise<import('playwright-core').Page>} the loaded page.
   */
  async function open(responses = {}) {
    const context = await env.browser.newContext({ viewport: { width: 300, height: 900 }, timezoneId: 'UTC', locale: 'en-US' });
    const page = await context.newPage();
    const errors = [];
    page.on('pageerror', (err) => errors.push(err));
    page.errors = errors;
    await page.addInitScript(installStub);
    await page.route((url) => !url.href.startsWith(env.baseUrl), (route) => route.abort());
    await page.addInitScript((answers) => { window.__gs.responses = answers; }, Object.assign({
      getSidebarState: { value: { settings: SETTINGS, lastRun: null, sheet: 'Leads', columns: ['Company', 'Email'] } },
    }, responses));
    await page.goto(`${env.baseUrl}/sidebar`);
    await page.waitForFunction(() => window.__gs.calls.some((c) => c.name === 'getSidebarState'));
    await page.waitForFunction(() => !document.getElementById('score-selected').disabled);
    return page;
  }

  const calls = (page, name) => page.evaluate((n) => window.__gs.calls.filter((c) => c.name === n), name);
  const controlsDisabled = (page) => page.$$eval('[data-action]', (els) => els.map((e) => e.disabled));

  it('loads its state: settings filled in, auto-rescore shown, no errors', async () => {
    const page = await open();
    assert.equal(await page.inputValue('#backend-url'), SETTINGS.backendUrl);
    assert.equal(await page.inputValue('#key-column'), 'Email');
    assert.equal(await page.isChecked('#auto-rescore'), true);
    assert.match(await page.textContent('#auto-help'), /On for "Leads"/);
    assert.equal(await page.isVisible('#summary'), false, 'no run yet');
    assert.deepEqual(page.errors, []);
    await page.context().close();
  });

  it('shows a red banner when the model failed its gates and was forced', async () => {
    const page = await open({ scoreSelectedRows: { manual: true } });
    await page.click('#score-selected');
    const s = summary();
    s.model = Object.assign({}, s.model, { quality: { gates_passed: false, forced: true, failures: ['AUC 0.61 is not above 0.75.'],
      message: 'This model failed its quality gates and is served only because it was promoted with --force.' } });
    await page.evaluate((x) => window.__gs.respond('scoreSelectedRows', { value: x }), s);
    await page.waitForSelector('#model-forced:not([hidden])');
    assert.match(await page.textContent('#model-forced'), /failed its quality gates.*--force/);
    assert.equal(await page.getAttribute('#model-forced', 'class'), 'alert error');
  });

  it('Score selected rows calls scoreSelectedRows, disables the buttons until it answers, then shows the summary', async () => {
    const page = await open({ scoreSelectedRows: { manual: true } });
    await page.click('#score-selected');
    assert.equal((await calls(page, 'scoreSelectedRows')).length, 1);
    assert.ok((await controlsDisabled(page)).every(Boolean), 'every action control is disabled while in flight');
    assert.match(await page.textContent('#status'), /Scoring the selected rows/);

    await page.evaluate((s) => window.__gs.respond('scoreSelectedRows', { value: s }), summary());
    await page.waitForSelector('#summary:not([hidden])');
    assert.ok((await controlsDisabled(page)).every((d) => !d), 'enabled again');
    assert.equal(await page.isVisible('#status'), false);

    assert.equal(await page.textContent('#stat-scored'), '118');
    assert.equal(await page.textContent('#stat-skipped'), '3');
    assert.equal(await page.textContent('#summary-when'), '2 min ago');
    const reasons = await page.$$eval('#skipped-list li', (lis) => lis.map((li) => li.textContent));
    assert.deepEqual(reasons, ['2Row moved: the sheet was sorted after it was readrows 14, 15', '1Hidden by a filterrow 22']);
    assert.match(await page.textContent('#summary-notice'), /2 rows moved while scoring/);
    const bars = await page.$$eval('#distribution .bar-col', (cols) => cols.map((c) => c.querySelector('.bar-count').textContent));
    assert.deepEqual(bars, ['4', '7', '10', '13', '16', '18', '17', '14', '11', '8']);
    const leads = await page.$$eval('#top-leads li', (lis) => lis.map((li) => ({
      score: li.querySelector('.score-badge').textContent,
      name: li.querySelector('.lead-name').textContent,
      meta: li.querySelector('.lead-meta').textContent,
      segment: li.querySelector('.lead-segment').textContent,
      href: li.querySelector('a').getAttribute('href'),
    })));
    assert.equal(leads.length, 5);
    assert.deepEqual(leads[0], {
      score: '10',
      name: 'Northwind Traders',
      meta: '87% to close · $2,400/mo',
      segment: 'Enterprise referral',
      href: 'https://docs.google.com/spreadsheets/d/1AbCdEfGhIjKlMn/edit#gid=0&range=A37',
    });
    assert.match(await page.textContent('#summary-model'), /Model leadscore 2024\.11\.1 · Sheet "Leads" · selected rows/);
    assert.equal(await page.isVisible('#model-forced'), false, 'no banner for a model that passed its gates');

    await page.evaluate(() => { window.__gs.responses.selectRow = { value: true }; });
    await page.click('#top-leads li:nth-child(3) a');
    assert.deepEqual((await calls(page, 'selectRow'))[0].args, [0, 58]);
    assert.equal(page.context().pages().length, 1, 'the row is selected in place, no new tab');
    assert.deepEqual(page.errors, []);

    // The screenshot for docs/ of exactly this state.
    await page.mouse.move(0, 0);
    const target = process.env.UPDATE_SCREENSHOT === '1' || !fs.existsSync(path.join(ROOT, 'docs', 'sidebar.png')) ?
      path.join(ROOT, 'docs', 'sidebar.png') : path.join(os.tmpdir(), 'leadscore-sidebar.png');
    fs.mkdirSync(path.dirname(target), { recursive: true });
    await page.screenshot({ path: target, fullPage: true });
    assert.equal(pngSize(target).width, 300);
    await page.context().close();
  });

  it('a failure shows the friendly message and re-enables the buttons', async () => {
    const message = "Can't reach the lead scoring service at leadscore.example.com. It may be down, or the backend URL in Settings may be wrong. Try again in a few minutes.";
    const page = await open({ scoreUnscoredRows: { manual: true } });
    await page.click('#score-unscored');
    assert.ok((await controlsDisabled(page)).every(Boolean));
    await page.evaluate((m) => window.__gs.respond('scoreUnscoredRows', { error: `ScoringError: ${m}` }), message);
    await page.waitForSelector('#message:not([hidden])');
    assert.equal(await page.textContent('#message'), message);
    assert.ok((await controlsDisabled(page)).every((d) => !d));
    await page.context().close();
  });

  it('Apps Script’s own failures are put in plain words too', async () => {
    const page = await open({ scoreSelectedRows: { error: 'Exception: Authorization is required to perform that action.' } });
    await page.click('#score-selected');
    await page.waitForSelector('#message:not([hidden])');
    assert.match(await page.textContent('#message'), /needs your permission first/);
    await page.context().close();
  });

  it('saving settings calls saveSettings with the form and confirms', async () => {
    const saved = Object.assign({}, SETTINGS, { backendUrl: 'https://scores.acme.dev', maxRows: 250, apiKeySet: true });
    const page = await open({ saveSettings: { value: saved } });
    await page.click('#settings > summary');
    await page.fill('#backend-url', ' https://scores.acme.dev ');
    await page.fill('#max-rows', '250');
    await page.fill('#api-key', 'k-123');
    await page.click('#save-settings');
    await page.waitForSelector('#settings-message:not([hidden])');
    const [call] = await calls(page, 'saveSettings');
    assert.deepEqual(call.args, [{ backendUrl: 'https://scores.acme.dev', keyColumn: 'Email', maxRows: '250', apiKey: 'k-123', clearApiKey: false }]);
    assert.equal(await page.textContent('#settings-message'), 'Settings saved.');
    assert.equal(await page.inputValue('#api-key'), '', 'the key is not kept in the page');
    assert.equal(await page.getAttribute('#api-key', 'placeholder'), 'Saved (type to replace)');
    await page.context().close();
  });

  it('a refused setting shows the reason beside the form', async () => {
    const page = await open({ saveSettings: { error: 'The backend URL must look like https://leadscore.example.com (no spaces, no ? or #).' } });
    await page.click('#settings > summary');
    await page.fill('#backend-url', 'leadscore');
    await page.click('#save-settings');
    await page.waitForSelector('#settings-message.error');
    assert.match(await page.textContent('#settings-message'), /must look like/);
    await page.context().close();
  });

  it('the auto-rescore switch calls setAutoRescore, and flips back when that fails', async () => {
    const page = await open({ setAutoRescore: { error: 'Set the backend URL in Lead Scoring ▸ Settings first (ask your admin for it).' } });
    await page.click('#auto-rescore');
    await page.waitForSelector('#message:not([hidden])');
    assert.deepEqual((await calls(page, 'setAutoRescore'))[0].args, [false]);
    assert.equal(await page.isChecked('#auto-rescore'), true);
    await page.context().close();
  });

  it('with no backend URL yet, the settings open and say what to do', async () => {
    const page = await open({
      getSidebarState: { value: { settings: Object.assign({}, SETTINGS, { backendUrl: '' }), lastRun: summary(90), sheet: 'Leads', columns: [] } },
    });
    assert.equal(await page.getAttribute('#settings', 'open'), '');
    assert.match(await page.textContent('#settings-message'), /Set the backend URL/);
    assert.equal(await page.textContent('#summary-when'), '2 h ago', 'the last run is shown on open');
    await page.context().close();
  });

  it('lead names from the sheet are shown as text, never as HTML', async () => {
    const s = summary();
    s.topLeads[0].label = '<img src=x onerror="window.__pwned=1">';
    const page = await open({ scoreSelectedRows: { value: s } });
    await page.click('#score-selected');
    await page.waitForSelector('#summary:not([hidden])');
    assert.equal(await page.textContent('#top-leads .lead-name'), s.topLeads[0].label);
    assert.equal(await page.evaluate(() => window.__pwned), undefined);
    await page.context().close();
  });

  it('shows the current model\'s segment table, highest conversion first, with each segment\'s advice', async () => {
    const table = {
      model: { name: 'leadscore', version: '2024.11.1' },
      method: 'k-means', baseRate: 0.36,
      segments: [
        { name: 'Agency, high Monthly Ad Spend, Referral', share: 0.31, conversionRate: 0.74, lift: 2.06,
          meanMrrWon: 970, recommendation: 'Converts at 2.1× the base rate with above-median MRR: route to senior reps first.' },
        { name: '<b>Local Services</b>, Cold Outbound', share: 0.41, conversionRate: 0.07, lift: 0.19,
          meanMrrWon: null, recommendation: 'Converts at 0.2× the base rate: nurture by email.' },
      ],
    };
    const page = await open({ getSegments: { value: table } });
    await page.waitForSelector('#segments:not([hidden])');
    const rows = await page.$$eval('#segments-body tr', (trs) => trs.map((tr) => Array.from(tr.cells).map((td) => td.textContent)));
    assert.deepEqual(rows, [
      ['Agency, high Monthly Ad Spend, ReferralConverts at 2.1× the base rate with above-median MRR: route to senior reps first.', '31%', '74% (2.1×)'],
      ['<b>Local Services</b>, Cold OutboundConverts at 0.2× the base rate: nurture by email.', '41%', '7% (0.2×)'],
    ]);
    assert.equal(await page.textContent('#segments-base'), 'base rate 36%');
    assert.equal(await page.$('#segments-body b'), null, 'names are text, never HTML');
    assert.ok((await calls(page, 'getSegments')).length === 1);
    assert.deepEqual(page.errors, []);
    await page.context().close();
  });

  it('hides the segment table when the model has none or the backend cannot say', async () => {
    const page = await open({ getSegments: { error: 'No scoring model is available yet.' } });
    await page.waitForFunction(() => window.__gs.calls.some((c) => c.name === 'getSegments'));
    assert.equal(await page.isVisible('#segments'), false);
    assert.deepEqual(page.errors, []);
    await page.context().close();
  });
}
