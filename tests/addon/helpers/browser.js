'use strict';
/**
 * The sidebar served on loopback and Debian's Chromium driven by playwright-core, shared by the
 * browser tests. A missing Chromium is a counted skip with its reason, never a silent pass.
 */
const { after, before, describe, test } = require('node:test');
const fs = require('node:fs');
const http = require('node:http');

const { loadAddon } = require('./loader');

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/**
 * Why the browser tests cannot run here, or false when they can.
 * @param {string} what the tests' name, for the message.
 * @return {string|boolean} the skip reason, or false.
 */
function skipReason(what) {
  return fs.existsSync(CHROMIUM) ? false :
    `${CHROMIUM} is missing: install it (apt-get install -y chromium) to run the ${what}`;
}

/**
 * Renders the sidebar the way showSidebar does, serves it at /sidebar and starts Chromium.
 * @return {Promise<{baseUrl: string, browser: Object, close: function(): Promise<void>}>}
 */
async function serveSidebar() {
  const addon = loadAddon();
  addon.call('showSidebar');
  const html = addon.ui.sidebars[0].getContent();
  const server = http.createServer((req, res) => {
    res.writeHead(req.url === '/sidebar' ? 200 : 404, { 'Content-Type': 'text/html; charset=utf-8' });
    res.end(req.url === '/sidebar' ? html : '');
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { chromium } = require('playwright-core');
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  return {
    baseUrl: `http://127.0.0.1:${server.address().port}`,
    browser,
    async close() {
      await browser.close();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/**
 * A suite of browser tests: with Chromium, `tests(env)` runs with `env.browser` and
 * `env.baseUrl` set before its tests and closed after; without it, one counted skip.
 * @param {string} name the suite's name.
 * @param {string|boolean} skip the skip reason from skipReason(), or false.
 * @param {function(!Object): void} tests defines the suite's tests.
 */
function describeInBrowser(name, skip, tests) {
  if (skip) {
    test(name, { skip }, () => {});
    return;
  }
  describe(name, () => {
    const env = {};
    before(async () => { Object.assign(env, await serveSidebar()); });
    after(async () => { if (env.close) await env.close(); });
    tests(env);
  });
}

module.exports = { CHROMIUM, CHROMIUM_ARGS, describeInBrowser, skipReason, serveSidebar };
