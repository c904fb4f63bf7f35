'use strict';
/** Settings: where each one is kept, validation, and that the API key stays on the server. */
const test = require('node:test');
const assert = require('node:assert/strict');

const { loadAddon } = require('./helpers/loader');
const { leadRows } = require('./helpers/backend');

test('defaults: no backend URL, no key column, 500 rows per request, no API key, auto-rescore off', () => {
  const addon = loadAddon();
  assert.deepEqual(addon.call('getSettings'), {
    backendUrl: '',
    keyColumn: '',
    maxRows: 500,
    apiKeySet: false,
    autoRescore: { enabled: false, sheet: null },
  });
});

test('backend URL, key column and row limit are document settings; the API key is per user', () => {
  const addon = loadAddon();
  const saved = addon.call('saveSettings', {
    backendUrl: ' https://leadscore.example.com/api/ ',
    keyColumn: ' Email ',
    maxRows: '250',
    apiKey: 'secret-key',
  });
  assert.deepEqual(saved, {
    backendUrl: 'https://leadscore.example.com/api',
    keyColumn: 'Email',
    maxRows: 250,
    apiKeySet: true,
    autoRescore: { enabled: false, sheet: null },
  });
  assert.deepEqual(addon.properties.document.getProperties(), {
    'leadscore.backendUrl': 'https://leadscore.example.com/api',
    'leadscore.keyColumn': 'Email',
    'leadscore.maxRowsPerRequest': '250',
  });
  assert.deepEqual(addon.properties.user.getProperties(), { 'leadscore.apiKey': 'secret-key' });
  assert.doesNotMatch(JSON.stringify(addon.call('getSidebarState')), /secret-key/, 'the key never goes to the page');
});

test('an empty API key field keeps the saved key; "remove" deletes it', () => {
  const addon = loadAddon({ settings: { backendUrl: 'https://a.example.com', apiKey: 'k1' } });
  assert.equal(addon.call('saveSettings', { backendUrl: 'https://a.example.com', apiKey: '' }).apiKeySet, true);
  assert.equal(addon.properties.user.getProperty('leadscore.apiKey'), 'k1');
  assert.equal(addon.call('saveSettings', { clearApiKey: true }).apiKeySet, false);
  assert.equal(addon.properties.user.getProperty('leadscore.apiKey'), null);
});

test('bad values are refused with a message naming the setting, and nothing is saved', () => {
  const addon = loadAddon();
  for (const url of ['leadscore.example.com', 'ftp://x.example.com', 'https://exa mple.com', 'https://x.example.com/?a=1']) {
    assert.match(addon.error('saveSettings', { backendUrl: url }).message, /The backend URL must look like/);
  }
  for (const maxRows of ['0', '-5', '12.5', 'lots', 100000]) {
    assert.match(addon.error('saveSettings', { maxRows }).message, /Rows per request must be a whole number/);
  }
  assert.deepEqual(addon.properties.document.getProperties(), {});
});

test('clearing the backend URL is allowed (it switches scoring off)', () => {
  const addon = loadAddon({ settings: { backendUrl: 'https://a.example.com' } });
  assert.equal(addon.call('saveSettings', { backendUrl: '' }).backendUrl, '');
});

test('the sidebar state: settings, last run, sheet name, and the column names for the key column', () => {
  const addon = loadAddon({ sheets: [{ name: 'Q4 Leads', values: leadRows(2) }] });
  const state = addon.call('getSidebarState');
  assert.equal(state.sheet, 'Q4 Leads');
  assert.deepEqual(state.columns, ['Company', 'Email', 'Lead Source', 'Monthly Ad Spend', 'Created', 'Status']);
  assert.equal(state.lastRun, null);
  assert.equal(state.settings.maxRows, 500);

  const empty = loadAddon({ sheets: [{ values: [] }] });
  assert.deepEqual(empty.call('getSidebarState').columns, []);
});

test('selectRow selects a top lead’s row and refuses nonsense', () => {
  const addon = loadAddon({ sheets: [{ name: 'Notes', values: [['a']] }, { name: 'Leads', values: leadRows(5) }] });
  const leads = addon.spreadsheet.getSheetByName('Leads');
  assert.equal(addon.call('selectRow', leads.getSheetId(), 4), true);
  assert.equal(addon.spreadsheet.getActiveSheet().getName(), 'Leads');
  assert.equal(addon.spreadsheet.getActiveRange().getRow(), 4);
  assert.equal(addon.call('selectRow', 999, 4), false);
  assert.equal(addon.call('selectRow', leads.getSheetId(), 'x'), false);
});
