/**
 * @fileoverview Auto-rescore: installable triggers that keep one sheet scored.
 *
 * - onEdit: a user edits data cells → those rows are rescored. Edits only in the output
 *   columns are ignored (the backend writes through the Sheets API, which fires no edit
 *   trigger, and a user touching a score is not new data).
 * - onChange: rows inserted (INSERT_ROW) → unscored rows are scored.
 * - time-driven, hourly (the most often an add-on may run): rows added by forms,
 *   imports or other API clients, which fire no edit trigger, are scored.
 *
 * The triggers are this add-on's by handler function name; others are never touched.
 */

/** The handler functions of the triggers auto-rescore installs. */
const TRIGGER_HANDLERS = Object.freeze({
  EDIT: 'autoRescoreOnEdit',
  CHANGE: 'autoRescoreOnChange',
  SWEEP: 'autoRescoreSweep',
});

/** Hours between sweeps (1 is the shortest interval allowed to add-ons). */
const SWEEP_EVERY_HOURS = 1;

/**
 * Installs the auto-rescore triggers for a sheet; running it again changes nothing
 * (duplicates left by earlier versions are removed).
 *
 * @param {!Object} spreadsheet the Spreadsheet.
 * @param {!Object} sheet the Sheet to keep scored.
 */
function installAutoRescore_(spreadsheet, sheet) {
  const builders = {};
  builders[TRIGGER_HANDLERS.EDIT] = () =>
    ScriptApp.newTrigger(TRIGGER_HANDLERS.EDIT).forSpreadsheet(spreadsheet).onEdit().create();
  builders[TRIGGER_HANDLERS.CHANGE] = () =>
    ScriptApp.newTrigger(TRIGGER_HANDLERS.CHANGE).forSpreadsheet(spreadsheet).onChange().create();
  builders[TRIGGER_HANDLERS.SWEEP] = () =>
    ScriptApp.newTrigger(TRIGGER_HANDLERS.SWEEP).timeBased().everyHours(SWEEP_EVERY_HOURS).create();

  const triggers = ScriptApp.getProjectTriggers();
  Object.keys(builders).forEach((handler) => {
    const mine = triggers.filter((t) => t.getHandlerFunction() === handler);
    mine.slice(1).forEach((t) => ScriptApp.deleteTrigger(t));
    if (!mine.length) {
      builders[handler]();
    }
  });
  setAutoRescoreSheetId_(sheet.getSheetId());
}

/**
 * Removes exactly the triggers auto-rescore installed, and its queued rows.
 */
function removeAutoRescore_() {
  const handlers = Object.keys(TRIGGER_HANDLERS).map((k) => TRIGGER_HANDLERS[k]);
  ScriptApp.getProjectTriggers().forEach((t) => {
    if (handlers.indexOf(t.getHandlerFunction()) >= 0) {
      ScriptApp.deleteTrigger(t);
    }
  });
  setAutoRescoreSheetId_(null);
  storePendingRows_([]);
}

/**
 * Whether auto-rescore is on, and for which sheet.
 *
 * @param {!Object} spreadsheet the Spreadsheet.
 * @return {{enabled: boolean, sheet: ?string}} on when all its triggers exist.
 */
function autoRescoreStatus_(spreadsheet) {
  const installed = ScriptApp.getProjectTriggers().map((t) => t.getHandlerFunction());
  const enabled = Object.keys(TRIGGER_HANDLERS).every((k) => installed.indexOf(TRIGGER_HANDLERS[k]) >= 0);
  const sheet = enabled ? watchedSheet_(spreadsheet) : null;
  return { enabled: enabled, sheet: sheet ? sheet.getName() : null };
}

/**
 * The sheet auto-rescore keeps scored.
 *
 * @param {!Object} spreadsheet the Spreadsheet.
 * @return {?Object} the Sheet, or null when it was deleted or never chosen.
 */
function watchedSheet_(spreadsheet) {
  const sheetId = loadSettings_().autoRescoreSheetId;
  return sheetId === null ? null : sheetById_(spreadsheet, sheetId);
}

/**
 * Trigger handler: rescoring the rows a user edited.
 *
 * @param {{range: !Object, source: !Object}} e the edit event.
 * @return {?Object} the run's summary, or null when nothing was scored.
 */
function autoRescoreOnEdit(e) {
  if (!e || !e.range) {
    return null;
  }
  const range = e.range;
  const sheet = range.getSheet();
  const spreadsheet = e.source || SpreadsheetApp.getActiveSpreadsheet();
  const watched = watchedSheet_(spreadsheet);
  if (!watched || watched.getSheetId() !== sheet.getSheetId() || range.getLastRow() < 2) {
    return null;
  }
  let rows;
  try {
    rows = editedDataRows_(sheet, range);
  } catch (err) {
    return null; // no header row yet: nothing to score
  }
  if (!rows.length) {
    return null;
  }
  return runFromTrigger_({ mode: RUN_MODES.EDIT, sheet: sheet, rows: rows });
}

/**
 * Trigger handler: scoring unscored rows after rows were inserted.
 *
 * @param {{changeType: string, source: !Object}} e the change event.
 * @return {?Object} the run's summary, or null when nothing was scored.
 */
function autoRescoreOnChange(e) {
  if (!e || e.changeType !== 'INSERT_ROW') {
    return null;
  }
  const sheet = watchedSheet_(e.source || SpreadsheetApp.getActiveSpreadsheet());
  return sheet ? runFromTrigger_({ mode: RUN_MODES.CHANGE, sheet: sheet }) : null;
}

/**
 * Trigger handler: the hourly sweep for rows no edit trigger saw.
 *
 * @param {Object=} e the time-driven event (unused).
 * @return {?Object} the run's summary, or null when nothing was scored.
 */
function autoRescoreSweep(e) {
  const spreadsheet = SpreadsheetApp.getActiveSpreadsheet();
  const sheet = spreadsheet ? watchedSheet_(spreadsheet) : null;
  return sheet ? runFromTrigger_({ mode: RUN_MODES.SWEEP, sheet: sheet }) : null;
}

/**
 * The data rows an edit touched; empty when it touched only the header, output columns
 * or unnamed columns.
 *
 * @param {!Object} sheet the edited Sheet.
 * @param {!Object} range the edited Range.
 * @return {!Array<number>} sheet row numbers, ascending.
 */
function editedDataRows_(sheet, range) {
  const layout = readLayout_(sheet);
  const firstColumn = range.getColumn();
  const lastColumn = range.getLastColumn();
  const touchesData = layout.dataColumns.some((i) => i + 1 >= firstColumn && i + 1 <= lastColumn);
  if (!touchesData) {
    return [];
  }
  const rows = [];
  const last = Math.min(range.getLastRow(), layout.lastRow);
  for (let row = Math.max(2, range.getRow()); row <= last; row++) {
    rows.push(row);
  }
  return rows;
}

/**
 * Runs a trigger's scoring quietly: a run already in progress leaves the rows queued for
 * the next trigger run; other failures are logged and shown as the last run.
 *
 * @param {{mode: string, sheet: !Object, rows: (Array<number>|undefined)}} options what
 *     to score, as for runScoring_.
 * @return {?Object} the run's summary, or null when it did not run.
 */
function runFromTrigger_(options) {
  if (!loadSettings_().backendUrl) {
    return null;
  }
  try {
    return runScoring_(Object.assign({ fromTrigger: true }, options));
  } catch (err) {
    if (err && err.code === 'busy') {
      if (options.rows && options.rows.length) {
        storePendingRows_(loadPendingRows_().concat(options.rows));
      }
      console.log('Auto-rescore skipped: another scoring run is in progress.');
      return null;
    }
    console.warn('Auto-rescore (' + options.mode + ') failed: ' + (err && err.message));
    storeLastRun_(failureSummary_(options.mode, options.sheet, err));
    return null;
  }
}

/**
 * A summary for a trigger run that failed, so the sidebar can say what happened.
 *
 * @param {string} mode one of RUN_MODES.
 * @param {!Object} sheet the Sheet.
 * @param {*} err what was thrown.
 * @return {!Object} a summary with no rows and the error.
 */
function failureSummary_(mode, sheet, err) {
  return {
    mode: mode,
    sheet: sheet.getName(),
    sheetId: sheet.getSheetId(),
    startedAt: new Date().toISOString(),
    durationMs: 0,
    sent: 0,
    scored: 0,
    skippedCount: 0,
    skipped: [],
    moved: 0,
    distribution: [0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
    topLeads: [],
    model: null,
    warnings: [],
    errors: [String((err && err.message) || err)],
    notice: null,
  };
}
