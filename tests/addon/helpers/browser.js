'use strict';
/**
 * The sidebar served on loopback and Debian's Chromium driven by playwright-core, shared by the
 * browser tests. A missing Chromium is a counted skip with its reason, never a silent pass.
 */
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

module.exports = { CHROMIUM, CHROMIUM_ARGS, skipReason, serveSidebar };
