'use strict';
/**
 * The sidebar's "Where to sell" form in headless Chromium (Debian's /usr/bin/chromium):
 * it loads its last values, sends the form, keeps its button disabled while the call is in
 * flight, and shows the answer (or the failure) as text.
 */
const { it } = require('node:test');
const assert = require('node:assert/strict');

const { describeInBrowser, installStub, skipReason } = require('./helpers/browser');

const SKIP = skipReason('sidebar tests');

const STATE = {
  settings: { backendUrl: 'https://leadscore.example.com', keyColumn: '', maxRows: 500, apiKeySet: false,
    autoRescore: { enabled: false, sheet: null } },
  lastRun: null, sheet: 'Leads', columns: ['Company', 'Industry', 'ZIP', 'Status', 'MRR'],
};
const STORED = { target: 'Status', positive: 'Won', value: 'MRR', industry: 'Industry', zip: 'ZIP',
  sites: 'Boston, 02108\nIndianapolis, 46204', radius: 100 };

describeInBrowser('where-to-sell form in Chromium', SKIP, (env) => {

    async function open(responses) {
      const context = await env.browser.newContext({ viewport: { width: 300, height: 1200 } });
      const page = await context.newPage();
      page.errors = [];
      page.on('pageerror', (err) => page.errors.push(err));
      await page.route((url) => !url.href.startsWith(env.baseUrl), (route) => route.abort());
      await page.addInitScript(installStub);
      await page.addInitScript((answers) => { window.__gs.responses = answers; }, Object.assign({
        getSidebarState: { value: STATE }, getRegionSettings: { value: STORED },
      }, responses));
      await page.goto(`${env.baseUrl}/sidebar`);
      await page.waitForFunction(() => document.getElementById('regions-sites').value !== '');
      await page.click('#regions summary');
      return page;
    }

    it('fills the form, sends it, disables its button while waiting, then shows the result', async () => {
      const page = await open({ findWhereToSell: { manual: true } });
      assert.equal(await page.inputValue('#regions-target'), 'Status');
      assert.equal(await page.inputValue('#regions-sites'), STORED.sites);
      await page.fill('#regions-radius', '80');
      await page.click('#regions-run');
      const sent = await page.evaluate(() => window.__gs.calls.filter((c) => c.name === 'findWhereToSell'));
      assert.equal(sent.length, 1);
      assert.deepEqual(sent[0].args[0], Object.assign({}, STORED, { radius: '80' }));
      assert.equal(await page.isDisabled('#regions-run'), true);
      await page.evaluate(() => window.__gs.respond('findWhereToSell', { value: {
        summary: ['Indianapolis: 3 customers within 80 mi, 57 prospects; 31 of them are in industries paying above average (<b>Finance</b>).'],
        notes: ['2 row(s) have a ZIP that is not a known US ZIP code.'],
        rankedBy: 'industry value', targets: 31, tab: 'Where to sell 2026-12-02', sheetId: 2001 } }));
      await page.waitForSelector('#regions-summary:not([hidden])');
      assert.equal(await page.isDisabled('#regions-run'), false);
      assert.match(await page.textContent('#regions-message'), /31 prospects to call first, ranked by industry value, are in the new tab "Where to sell 2026-12-02"/);
      const items = await page.$$eval('#regions-summary li', (els) => els.map((e) => e.textContent));
      assert.equal(items.length, 2);
      assert.match(items[0], /<b>Finance<\/b>/, 'text from the backend is shown as text, not HTML');
      assert.deepEqual(page.errors, []);
      await page.context().close();
    });

    it('shows a failure in words and enables the button again', async () => {
      const page = await open({ findWhereToSell: { error: 'ScoringError: Sites, line 2 ("Indianapolis"): write the site\'s name, a comma and its ZIP code.' } });
      await page.click('#regions-run');
      await page.waitForSelector('#regions-message.error');
      assert.match(await page.textContent('#regions-message'), /^Sites, line 2/);
      assert.equal(await page.isDisabled('#regions-run'), false);
      await page.context().close();
    });
});
