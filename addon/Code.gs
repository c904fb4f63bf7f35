/**
 * @fileoverview The menu, the sidebar and the server functions the sidebar calls with
 * google.script.run. Each one is thin: the work is in Scoring.gs, Sheet.gs, Api.gs,
 * Config.gs and Triggers.gs.
 */

/** The menu's and the sidebar's title. */
const ADDON_TITLE = 'Lead Scoring';

/** Where the HTML files live in the script project (clasp keeps the folder in the name). */
const HTML_DIR = 'addon/';

/**
 * Adds the Lead Scoring menu when the spreadsheet opens.
 *
 * @param {Object=} e the open event (may have authMode NONE: touch no user data here).
 */
function onOpen(e) {
  // An add-on's menu lives under Extensions, titled with the add-on's name.
  SpreadsheetApp.getUi()
      .createAddonMenu()
      .addItem('Open sidebar', 'showSidebar')
      .addItem('Score selected rows', 'menuScoreSelectedRows')
      .addItem('Score unscored rows', 'menuScoreUnscoredRows')
      .addSeparator()
      .addItem('Settings', 'showSettings')
      .addToUi();
}

/**
 * Adds the menu right after the add-on is installed, without reopening the file.
 *
 * @param {Object=} e the install event.
 */
function onInstall(e) {
  onOpen(e);
}

/**
 * Opens the sidebar on its scoring view.
 */
function showSidebar() {
  showSidebarView_('score');
}

/**
 * Opens the sidebar with its settings expanded.
 */
function showSettings() {
  showSidebarView_('settings');
}

/**
 * Renders the sidebar template and shows it.
 *
 * @param {string} view "score" or "settings": what the sidebar opens on.
 */
function showSidebarView_(view) {
  const template = HtmlService.createTemplateFromFile(HTML_DIR + 'Sidebar');
  template.view = view;
  SpreadsheetApp.getUi().showSidebar(template.evaluate().setTitle(ADDON_TITLE));
}

/**
 * Inserts an HTML partial (style or script) into the sidebar template.
 *
 * @param {string} name the partial's file name without folder or extension.
 * @return {string} its content.
 */
function include(name) {
  return HtmlService.createHtmlOutputFromFile(HTML_DIR + name).getContent();
}

/**
 * Scores the selected rows of the active sheet (several ranges allowed).
 *
 * @return {!Object} the run's summary (see summarize_).
 */
function scoreSelectedRows() {
  return runScoring_({ mode: RUN_MODES.SELECTED });
}

/**
 * Scores the rows of the active sheet that have no score from the active model.
 *
 * @return {!Object} the run's summary (see summarize_).
 */
function scoreUnscoredRows() {
  return runScoring_({ mode: RUN_MODES.UNSCORED });
}

/**
 * Turns auto-rescore on for the active sheet, or off.
 *
 * @param {boolean} enabled true to install the triggers, false to remove them.
 * @return {{enabled: boolean, sheet: ?string}} the new state.
 */
function setAutoRescore(enabled) {
  const spreadsheet = SpreadsheetApp.getActiveSpreadsheet();
  if (enabled) {
    requireSettings_();
    installAutoRescore_(spreadsheet, spreadsheet.getActiveSheet());
  } else {
    removeAutoRescore_();
  }
  return autoRescoreStatus_(spreadsheet);
}

/**
 * The settings for the sidebar (the API key itself is never sent, only whether one is set).
 *
 * @return {{backendUrl: string, keyColumn: string, maxRows: number, apiKeySet: boolean,
 *     autoRescore: {enabled: boolean, sheet: ?string}}} the settings.
 */
function getSettings() {
  const settings = publicSettings_();
  settings.autoRescore = autoRescoreStatus_(SpreadsheetApp.getActiveSpreadsheet());
  return settings;
}

/**
 * Saves the settings form.
 *
 * @param {{backendUrl: string, keyColumn: string, maxRows: (number|string),
 *     apiKey: string, clearApiKey: boolean}} settings the form's values.
 * @return {!Object} the settings now in force, as getSettings returns them.
 */
function saveSettings(settings) {
  storeSettings_(settings);
  return getSettings();
}

/**
 * Everything the sidebar shows when it opens.
 *
 * @return {{settings: !Object, lastRun: ?Object, sheet: string, columns: !Array<string>}}
 *     the settings, the last run's summary, the active sheet and its column names.
 */
function getSidebarState() {
  const sheet = SpreadsheetApp.getActiveSpreadsheet().getActiveSheet();
  let columns = [];
  try {
    const layout = readLayout_(sheet);
    columns = layout.dataColumns.map((i) => headerText_(layout.header[i]));
  } catch (err) {
    columns = [];
  }
  return {
    settings: getSettings(),
    lastRun: loadLastRun_(),
    sheet: sheet.getName(),
    columns: columns,
  };
}

/**
 * The current model's segments, for the sidebar's segment table.
 *
 * @return {{model: !Object, method: ?string, baseRate: ?number, segments: !Array<{name: string,
 *     share: number, conversionRate: ?number, lift: ?number, meanMrrWon: ?number,
 *     recommendation: string}>}} the table, highest conversion first.
 */
function getSegments() {
  const body = fetchSegments_(requireSettings_());
  return {
    model: body.model,
    method: body.method || null,
    baseRate: body.base_rate === undefined ? null : body.base_rate,
    segments: body.segments.map((s) => ({
      name: String(s.name),
      share: Number(s.share),
      conversionRate: s.conversion_rate === null || s.conversion_rate === undefined ? null : Number(s.conversion_rate),
      lift: s.lift === null || s.lift === undefined ? null : Number(s.lift),
      meanMrrWon: s.mean_mrr_won === null || s.mean_mrr_won === undefined ? null : Number(s.mean_mrr_won),
      recommendation: String(s.recommendation || ''),
    })),
  };
}

/**
 * Selects a row, for the top-lead links of the sidebar.
 *
 * @param {number} sheetId the sheet's id (gid).
 * @param {number} row the sheet row number.
 * @return {boolean} true when the row was selected.
 */
function selectRow(sheetId, row) {
  const spreadsheet = SpreadsheetApp.getActiveSpreadsheet();
  const sheet = sheetById_(spreadsheet, Number(sheetId));
  const rowNumber = Number(row);
  if (!sheet || !Number.isInteger(rowNumber) || rowNumber < 1 || rowNumber > sheet.getMaxRows()) {
    return false;
  }
  sheet.activate();
  sheet.getRange(rowNumber, 1, 1, sheet.getMaxColumns()).activate();
  return true;
}

/**
 * Menu item: scores the selected rows and reports in a toast (or an alert on failure).
 */
function menuScoreSelectedRows() {
  runFromMenu_(scoreSelectedRows);
}

/**
 * Menu item: scores the unscored rows and reports in a toast (or an alert on failure).
 */
function menuScoreUnscoredRows() {
  runFromMenu_(scoreUnscoredRows);
}

/**
 * Runs a scoring function for a menu item, where there is no sidebar to report to.
 *
 * @param {function(): !Object} run scoreSelectedRows or scoreUnscoredRows.
 */
function runFromMenu_(run) {
  try {
    const summary = run();
    SpreadsheetApp.getActiveSpreadsheet().toast(
        summaryLine_(summary) + ' Open the sidebar for details.', ADDON_TITLE, 8);
  } catch (err) {
    const ui = SpreadsheetApp.getUi();
    ui.alert(ADDON_TITLE, String((err && err.message) || err), ui.ButtonSet.OK);
  }
}
