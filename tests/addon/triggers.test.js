'use strict';
/** Auto-rescore: trigger install/removal, what each trigger scores, and the document lock. */
const test = require('node:test');
const assert = require('node:assert/strict');

const { loadAddon } = require('./helpers/loader');
const { BACKEND_URL, MODEL, HEADER, OUTPUT_HEADERS, leadRows, scoringBackend } = require('./helpers/backend');

const MINE = ['autoRescoreOnChange:ON_CHANGE', 'autoRescoreOnEdit:ON_EDIT', 'autoRescoreSweep:CLOCK'];
const OTHERS = [
  { handler: 'sendDigest', eventType: 'CLOCK', source: 'CLOCK' },
  { handler: 'logEdits', eventType: 'ON_EDIT' },
];

/** A spreadsheet with a Notes sheet and a Leads sheet whose rows all carry current scores. */
function scoredWorkbook(options = {}) {
  const values = leadRows(6);
  values[0] = HEADER.concat(OUTPUT_HEADERS);
  for (let r = 1; r < values.length; r++) {
    values[r] = values[r].concat([5, 0.4, 900, 'Lead Source = Web ↑', 'Self-serve', '2024-11-01 10:00', MODEL.version]);
  }
  const addon = loadAddon(Object.assign({
    sheets: [{ name: 'Notes', values: [['Note'], ['hello']] }, { name: 'Leads', values }],
    responder: scoringBackend(),
    settings: { backendUrl: BACKEND_URL },
  }, options));
  const leads = addon.spreadsheet.getSheetByName('Leads');
  leads.activate();
  return { addon, leads };
}

/** The edit event for a range of a sheet. */
const editEvent = (addon, sheet, a1) => ({ range: sheet.getRange(a1), source: addon.spreadsheet, value: 'x' });

const sentRows = (addon) => addon.fetch.scoreRequests().flatMap((r) => r.body.rows.map((x) => x.row));

// ------------------------------------------------------------------------ install / remove

test('setAutoRescore(true) installs onEdit, onChange and an hourly sweep, once, beside other triggers', () => {
  const { addon, leads } = scoredWorkbook({ triggers: OTHERS });
  const state = addon.call('setAutoRescore', true);
  assert.deepEqual(state, { enabled: true, sheet: 'Leads' });
  assert.deepEqual(addon.scriptApp.handlers(), [...MINE, 'logEdits:ON_EDIT', 'sendDigest:CLOCK'].sort());
  assert.deepEqual(addon.scriptApp.lastClockInterval, { hours: 1 });
  const edit = addon.scriptApp.triggers.find((t) => t.handler === 'autoRescoreOnEdit');
  assert.equal(edit.getTriggerSourceId(), addon.spreadsheet.getId());

  const ids = addon.scriptApp.triggers.map((t) => t.id);
  addon.call('setAutoRescore', true);
  assert.deepEqual(addon.scriptApp.triggers.map((t) => t.id), ids, 'a second call changes nothing');
  assert.equal(addon.call('getSettings').autoRescore.enabled, true);
  assert.equal(addon.properties.document.getProperty('leadscore.autoRescoreSheetId'), String(leads.getSheetId()));
});

test('setAutoRescore(false) removes exactly its own triggers, and is safe to repeat', () => {
  const { addon } = scoredWorkbook({ triggers: OTHERS });
  addon.call('setAutoRescore', true);
  assert.deepEqual(addon.call('setAutoRescore', false), { enabled: false, sheet: null });
  assert.deepEqual(addon.scriptApp.handlers(), ['logEdits:ON_EDIT', 'sendDigest:CLOCK']);
  addon.call('setAutoRescore', false);
  assert.deepEqual(addon.scriptApp.handlers(), ['logEdits:ON_EDIT', 'sendDigest:CLOCK']);
  assert.equal(addon.call('getSettings').autoRescore.enabled, false);
});

test('duplicates left behind are cleaned up; a missing trigger is put back', () => {
  const { addon } = scoredWorkbook({
    triggers: [
      { handler: 'autoRescoreOnEdit', eventType: 'ON_EDIT' },
      { handler: 'autoRescoreOnEdit', eventType: 'ON_EDIT' },
      { handler: 'autoRescoreSweep', eventType: 'CLOCK', source: 'CLOCK' },
    ],
  });
  assert.equal(addon.call('getSettings').autoRescore.enabled, false, 'onChange is missing');
  addon.call('setAutoRescore', true);
  assert.deepEqual(addon.scriptApp.handlers(), MINE);
});

test('auto-rescore needs a backend URL first', () => {
  const addon = loadAddon({ sheets: [{ values: leadRows(2) }] });
  assert.match(addon.error('setAutoRescore', true).message, /Set the backend URL/);
  assert.deepEqual(addon.scriptApp.handlers(), []);
});

// ------------------------------------------------------------------------ onEdit

test('an edit in data columns rescores exactly the edited rows', () => {
  const { addon, leads } = scoredWorkbook();
  addon.call('setAutoRescore', true);
  const summary = addon.call('autoRescoreOnEdit', editEvent(addon, leads, 'C3:D4'));
  assert.deepEqual(sentRows(addon), [3, 4]);
  assert.equal(summary.mode, 'edit');
  assert.equal(addon.call('getSidebarState').lastRun.mode, 'edit');
});

test('edits only in output columns are ignored, so writing scores never starts a run', () => {
  const { addon, leads } = scoredWorkbook();
  addon.call('setAutoRescore', true);
  assert.equal(addon.call('autoRescoreOnEdit', editEvent(addon, leads, 'G2:M7')), null);
  assert.equal(addon.call('autoRescoreOnEdit', editEvent(addon, leads, 'J5')), null);
  assert.equal(addon.fetch.requests.length, 0);
});

test('edits in the header, in another sheet, or with auto-rescore off are ignored', () => {
  const { addon, leads } = scoredWorkbook();
  addon.call('setAutoRescore', true);
  addon.call('autoRescoreOnEdit', editEvent(addon, leads, 'A1:C1'));
  addon.call('autoRescoreOnEdit', editEvent(addon, addon.spreadsheet.getSheetByName('Notes'), 'A2'));
  assert.equal(addon.fetch.requests.length, 0);

  const off = scoredWorkbook();
  off.addon.call('autoRescoreOnEdit', editEvent(off.addon, off.leads, 'A3'));
  assert.equal(off.addon.fetch.requests.length, 0);
});

test('a paste across data and output columns rescores its rows (header row excluded)', () => {
  const { addon, leads } = scoredWorkbook();
  addon.call('setAutoRescore', true);
  addon.call('autoRescoreOnEdit', editEvent(addon, leads, 'E1:H3'));
  assert.deepEqual(sentRows(addon), [2, 3]);
});

// ------------------------------------------------------------------------ onChange and sweep

test('onChange: inserted rows are scored as unscored rows; other changes are ignored', () => {
  const { addon, leads } = scoredWorkbook();
  addon.call('setAutoRescore', true);
  addon.call('autoRescoreOnChange', { changeType: 'FORMAT', source: addon.spreadsheet });
  addon.call('autoRescoreOnChange', { changeType: 'EDIT', source: addon.spreadsheet });
  assert.equal(addon.fetch.requests.length, 0);

  leads.values.splice(3, 0, ['Inserted Co', 'new@example.com', 'Web', 500, '', '']);
  addon.call('autoRescoreOnChange', { changeType: 'INSERT_ROW', source: addon.spreadsheet });
  assert.deepEqual(sentRows(addon), [4]);
});

test('the hourly sweep scores rows added without an edit, on the watched sheet', () => {
  const { addon, leads } = scoredWorkbook();
  addon.call('setAutoRescore', true);
  addon.spreadsheet.getSheetByName('Notes').activate();
  leads.values.push(['Form Co', 'form@example.com', 'Web', 800, '', '']);
  addon.call('autoRescoreSweep', {});
  assert.deepEqual(sentRows(addon), [8]);
  assert.equal(addon.fetch.scoreRequests()[0].body.sheet, 'Leads');
});

test('a sweep with nothing to do leaves the last run summary alone', () => {
  const { addon, leads } = scoredWorkbook();
  addon.call('setAutoRescore', true);
  addon.call('autoRescoreOnEdit', editEvent(addon, leads, 'A2'));
  const before = addon.call('getSidebarState').lastRun;
  addon.call('autoRescoreSweep', {});
  assert.deepEqual(addon.call('getSidebarState').lastRun, before);
});

test('a trigger run that fails does not throw; the sidebar shows what went wrong', () => {
  const { addon, leads } = scoredWorkbook({ responder: () => { throw new Error('DNS error: leadscore.example.com'); } });
  addon.call('setAutoRescore', true);
  assert.equal(addon.call('autoRescoreOnEdit', editEvent(addon, leads, 'B2')), null);
  const lastRun = addon.call('getSidebarState').lastRun;
  assert.equal(lastRun.mode, 'edit');
  assert.match(lastRun.errors[0], /Can't reach the lead scoring service/);
  assert.ok(addon.logs.lines.some((l) => l.level === 'warn'));
});

// ------------------------------------------------------------------------ the lock

test('a click while another run holds the lock: nothing is sent, the rep is told', () => {
  const { addon, leads } = scoredWorkbook();
  leads.select('A2:A4');
  addon.locks.heldElsewhere = true;
  const err = addon.error('scoreSelectedRows');
  assert.match(err.message, /already running/);
  assert.equal(err.code, 'busy');
  assert.equal(addon.fetch.requests.length, 0);
  assert.equal(addon.locks.attempts[0].kind, 'document');
  assert.ok(addon.locks.attempts[0].ms <= 5000, 'a click does not wait long');
});

test('a trigger while the lock is held skips quietly and leaves its rows for the next run', () => {
  const { addon, leads } = scoredWorkbook();
  addon.call('setAutoRescore', true);
  addon.locks.heldElsewhere = true;
  assert.equal(addon.call('autoRescoreOnEdit', editEvent(addon, leads, 'B3:B4')), null);
  assert.equal(addon.fetch.requests.length, 0);
  assert.equal(addon.call('getSidebarState').lastRun, null, 'no error shown for a skipped trigger');

  addon.locks.heldElsewhere = false;
  addon.call('autoRescoreSweep', {});
  assert.deepEqual(sentRows(addon), [3, 4], 'the queued rows are scored even though they look scored');
  addon.fetch.requests.length = 0;
  addon.call('autoRescoreSweep', {});
  assert.deepEqual(sentRows(addon), [], 'and only once');
});

test('the lock is released after a run, whether it succeeded or failed', () => {
  const { addon, leads } = scoredWorkbook();
  leads.select('A2');
  addon.call('scoreSelectedRows');
  assert.equal(addon.locks.held, false);
  addon.fetch.responder = () => { throw new Error('Address unavailable'); };
  addon.error('scoreSelectedRows');
  assert.equal(addon.locks.held, false);
  assert.equal(addon.locks.releases, 2);
});
