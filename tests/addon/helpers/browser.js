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
 * Replaces google.script.run in the page (give it to page.addInitScript). Answers come from window.__gs.responses[name]:
 * {value}, {error: message}, or {manual: true} (held until window.__gs.respond()).
 */
function installStub() {
  const gs = { calls: [], pending: [], responses: {} };
  const clone = (v) => (v === undefined ? v : JSON.parse(JSON.stringify(v)));
  const settle = (answer, success, failure, userObject) => {
    if (answer && 'error' in answer) {
      if (failure) failure(new Error(answer.error), userObject);
    } else if (success) {
      success(clone(answer ? answer.value : undefined), userObject);
    }
  };
  const runner = (success, failure, userObject) => new Proxy({}, {
    get(_, prop) {
      if (prop === 'withSuccessHandler') return (fn) => runner(fn, failure, userObject);
      if (prop === 'withFailureHandler') return (fn) => runner(success, fn, userObject);
      if (prop === 'withUserObject') return (obj) => runner(success, failure, obj);
      return (...args) => {
        gs.calls.push({ name: prop, args: clone(args) });
        const answer = gs.responses[prop];
        if (answer && answer.manual) {
          gs.pending.push({ name: prop, success, failure, userObject });
        } else {
          setTimeout(() => settle(answer || { error: `No stub answer for ${prop}` }, success, failure, userObject), 0);
        }
      };
    },
  });
  gs.respond = (name, answer) => {
    const index = gs.pending.findIndex((p) => p.name === name);
    if (index < 0) throw new Error(`No pending call to ${name}`);
    const [call] = gs.pending.splice(index, 1);
    settle(answer, call.success, call.failure, call.userObject);
  };
  window.__gs = gs;
  window.google = { script: { run: runner(null, null, undefined), host: { close() {}, setHeight() {} } } };
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

module.exports = { CHROMIUM, CHROMIUM_ARGS, describeInBrowser, installStub, skipReason, serveSidebar };
