/**
 * @fileoverview Reading the sheet: the header and the rows to score with their row
 * numbers, as JSON-ready cells. Reads whole ranges with getValues(), never a cell at a
 * time. Request bodies are built from them in Api.gs.
 */

/** The columns the backend writes, by exact header text (backend/outputs.py; Rule Points with a rulebook). */
const OUTPUT_HEADERS = Object.freeze([
  'Lead Score',
  'Close Probability',
  'Predicted MRR',
  'Score Reasons',
  'Segment',
  'Scored At',
  'Model Version',
  'Rule Points',
]);

/** Above this many separate blocks of rows, one read of the block around them is cheaper. */
const MAX_SEPARATE_READS = 20;

/** The tab holding the team's points rules (Group, Column, Condition, Value, Points, Note). */
const RULES_TAB = 'Scoring Rules';

/**
 * Reads the header row and finds the data and output columns.
 *
 * @param {!Object} sheet a Sheet.
 * @return {{header: !Array<*>, lastRow: number, lastColumn: number,
 *     dataColumns: !Array<number>, outputColumns: !Object<string, number>,
 *     sendWidth: number}} the layout; column positions are 0-based indexes into a row of
 *     getValues(); `sendWidth` columns from A are sent (through the last data column).
 * @throws {ScoringError} when row 1 holds no column names.
 */
function readLayout_(sheet) {
  const lastRow = sheet.getLastRow();
  const lastColumn = sheet.getLastColumn();
  if (lastRow < 1 || lastColumn < 1) {
    throw new ScoringError('no_header', 'The sheet "' + sheet.getName() + '" is empty. Put ' +
        'your column names in row 1 and one lead per row below them.');
  }
  const header = sheet.getRange(1, 1, 1, lastColumn).getValues()[0];
  const dataColumns = [];
  const outputColumns = {};
  header.forEach((name, index) => {
    const text = headerText_(name);
    if (OUTPUT_HEADERS.indexOf(text) >= 0) {
      if (!(text in outputColumns)) {
        outputColumns[text] = index;
      }
    } else if (text !== '') {
      dataColumns.push(index);
    }
  });
  if (!dataColumns.length) {
    throw new ScoringError('no_header', 'Row 1 of "' + sheet.getName() + '" has no column ' +
        'names. Put your column names (Company, Lead Source, …) in row 1.');
  }
  return {
    header: header,
    lastRow: lastRow,
    lastColumn: lastColumn,
    dataColumns: dataColumns,
    outputColumns: outputColumns,
    sendWidth: dataColumns[dataColumns.length - 1] + 1,
  };
}

/**
 * A header cell as text, the way the backend matches column names.
 *
 * @param {*} value a header cell from getValues().
 * @return {string} the trimmed text.
 */
function headerText_(value) {
  return value === null || value === undefined ? '' : String(value).trim();
}

/**
 * Finds the rows of the current selection on a sheet: every range of the active range
 * list, without the header row or rows past the data, without duplicates, in order;
 * rows hidden by a filter or by the user are left out and reported.
 *
 * @param {!Object} spreadsheet the Spreadsheet.
 * @param {!Object} sheet the active Sheet.
 * @param {{lastRow: number}} layout from readLayout_.
 * @return {{rows: !Array<number>, skipped: !Array<{row: number, reason: string}>}}
 *     visible selected rows and the hidden ones.
 */
function selectedRowNumbers_(spreadsheet, sheet, layout) {
  const rangeList = spreadsheet.getActiveRangeList();
  let ranges = rangeList ? rangeList.getRanges() : [];
  if (!ranges.length && spreadsheet.getActiveRange()) {
    ranges = [spreadsheet.getActiveRange()];
  }
  const wanted = {};
  ranges.forEach((range) => {
    if (range.getSheet().getSheetId() !== sheet.getSheetId()) {
      return;
    }
    const first = Math.max(2, range.getRow());
    const last = Math.min(layout.lastRow, range.getLastRow());
    for (let row = first; row <= last; row++) {
      wanted[row] = true;
    }
  });
  const rows = Object.keys(wanted).map(Number).sort((a, b) => a - b);

  // Hidden rows were not meant: a selection dragged across a filtered view skips them
  // the way copy and paste does.
  const filtered = sheet.getFilter() !== null;
  const visible = [];
  const skipped = [];
  rows.forEach((row) => {
    if (filtered && sheet.isRowHiddenByFilter(row)) {
      skipped.push({ row: row, reason: SKIP_REASONS.FILTERED });
    } else if (sheet.isRowHiddenByUser(row)) {
      skipped.push({ row: row, reason: SKIP_REASONS.HIDDEN });
    } else {
      visible.push(row);
    }
  });
  return { rows: visible, skipped: skipped };
}

/**
 * Reads the full rows with the given numbers, with one getValues() per block of
 * consecutive rows (or one read of the block around them when they are scattered).
 *
 * @param {!Object} sheet a Sheet.
 * @param {{lastRow: number, lastColumn: number}} layout from readLayout_.
 * @param {!Array<number>} rowNumbers sheet row numbers, ascending, without duplicates.
 * @return {!Array<{row: number, cells: !Array<*>}>} the rows, in the order given.
 */
function readRows_(sheet, layout, rowNumbers) {
  const rows = rowNumbers.filter((row) => row >= 2 && row <= layout.lastRow);
  if (!rows.length) {
    return [];
  }
  const blocks = [];
  rows.forEach((row) => {
    const block = blocks[blocks.length - 1];
    if (block && row === block.start + block.count) {
      block.count += 1;
    } else {
      blocks.push({ start: row, count: 1 });
    }
  });
  if (blocks.length > MAX_SEPARATE_READS) {
    const first = rows[0];
    const values = sheet.getRange(first, 1, rows[rows.length - 1] - first + 1, layout.lastColumn)
        .getValues();
    return rows.map((row) => ({ row: row, cells: values[row - first] }));
  }
  const out = [];
  blocks.forEach((block) => {
    const values = sheet.getRange(block.start, 1, block.count, layout.lastColumn).getValues();
    values.forEach((cells, i) => out.push({ row: block.start + i, cells: cells }));
  });
  return out;
}

/**
 * Reads every data row of the sheet (row 2 to the last row) in one getValues().
 *
 * @param {!Object} sheet a Sheet.
 * @param {{lastRow: number, lastColumn: number}} layout from readLayout_.
 * @return {!Array<{row: number, cells: !Array<*>}>} all rows below the header.
 */
function readAllRows_(sheet, layout) {
  if (layout.lastRow < 2) {
    return [];
  }
  const values = sheet.getRange(2, 1, layout.lastRow - 1, layout.lastColumn).getValues();
  return values.map((cells, i) => ({ row: i + 2, cells: cells }));
}

/**
 * Whether a row has nothing in any data column.
 *
 * @param {!Array<*>} cells the row from getValues().
 * @param {{dataColumns: !Array<number>}} layout from readLayout_.
 * @return {boolean} true when the row is empty.
 */
function isBlankRow_(cells, layout) {
  return layout.dataColumns.every((i) => {
    const value = cells[i];
    return value === '' || value === null || value === undefined ||
        (typeof value === 'string' && value.trim() === '');
  });
}

/**
 * Whether a row still needs a score from the active model: it was never scored, its
 * output cells were cleared, or it was scored by another model version.
 *
 * @param {!Array<*>} cells the row from getValues().
 * @param {{outputColumns: !Object<string, number>}} layout from readLayout_.
 * @param {string} activeVersion the model version the backend serves.
 * @return {boolean} true when the row should be scored.
 */
function isUnscoredRow_(cells, layout, activeVersion) {
  const at = layout.outputColumns;
  const versionIndex = at['Model Version'];
  if (versionIndex === undefined || headerText_(cells[versionIndex]) !== activeVersion) {
    return true;
  }
  // A row the model could not score keeps its reason in Score Reasons; it is not retried
  // until its data changes (an edit) or the model does.
  const scoreIndex = at['Lead Score'];
  const reasonsIndex = at['Score Reasons'];
  const hasScore = scoreIndex !== undefined && headerText_(cells[scoreIndex]) !== '';
  const hasReason = reasonsIndex !== undefined && headerText_(cells[reasonsIndex]) !== '';
  return !hasScore && !hasReason;
}

/**
 * Converts a cell from getValues() to what the API accepts: dates become ISO strings
 * in the spreadsheet's time zone, empty cells "", numbers and booleans stay as they are.
 *
 * @param {*} value the cell.
 * @param {string} timeZone the spreadsheet's time zone, e.g. "Europe/Berlin".
 * @return {(string|number|boolean)} the JSON value.
 */
function cellToJson_(value, timeZone) {
  if (value === null || value === undefined) {
    return '';
  }
  if (Object.prototype.toString.call(value) === '[object Date]') {
    return dateToIso_(value, timeZone);
  }
  if (typeof value === 'number') {
    return isFinite(value) ? value : String(value);
  }
  if (typeof value === 'boolean' || typeof value === 'string') {
    return value;
  }
  return String(value);
}

/**
 * Formats a date cell as ISO 8601: a date alone when the time is midnight, otherwise the
 * date and time with the spreadsheet's UTC offset.
 *
 * @param {!Date} date the cell's value.
 * @param {string} timeZone the spreadsheet's time zone.
 * @return {string} e.g. "2024-03-01" or "2024-03-01T14:30:00+01:00" ("" if invalid).
 */
function dateToIso_(date, timeZone) {
  if (isNaN(date.getTime())) {
    return '';
  }
  if (Utilities.formatDate(date, timeZone, 'HH:mm:ss') === '00:00:00') {
    return Utilities.formatDate(date, timeZone, 'yyyy-MM-dd');
  }
  return Utilities.formatDate(date, timeZone, 'yyyy-MM-dd\'T\'HH:mm:ssXXX');
}

/**
 * The Scoring Rules tab's rows (header first, empty rows left out), sent with every request
 * so that the backend scores with the team's points rules; null when there is no such tab.
 *
 * @param {!Object} spreadsheet the Spreadsheet.
 * @param {!Object} sheet the Sheet being scored (never its own rulebook).
 * @param {string} timeZone the spreadsheet's time zone.
 * @return {?Array<!Array<*>>} the tab's values as JSON cells, or null.
 */
function readScoringRules_(spreadsheet, sheet, timeZone) {
  const tab = spreadsheet.getSheetByName(RULES_TAB);
  if (!tab || tab.getSheetId() === sheet.getSheetId()) {
    return null;
  }
  const rows = tab.getDataRange().getValues()
      .map((row) => row.map((cell) => cellToJson_(cell, timeZone)))
      .filter((row) => row.some((cell) => cell !== '' && cell !== null));
  return rows.length > 1 ? rows : null;
}

/**
 * Finds the key column named in Settings in the header.
 *
 * @param {{keyColumn: string}} settings the stored settings.
 * @param {{header: !Array<*>, dataColumns: !Array<number>}} layout from readLayout_.
 * @param {!Object} sheet the Sheet being scored.
 * @return {?string} the header cell's text as sent to the backend, or null when no key
 *     column is set.
 * @throws {ScoringError} when the column is missing.
 */
function resolveKeyColumn_(settings, layout, sheet) {
  if (!settings.keyColumn) {
    return null;
  }
  const index = layout.dataColumns.find((i) => headerText_(layout.header[i]) === settings.keyColumn);
  if (index === undefined) {
    throw new ScoringError('settings', 'The lead key column "' + settings.keyColumn + '" is ' +
        'not in row 1 of "' + sheet.getName() + '". Fix it in Settings, or leave it empty.');
  }
  return String(layout.header[index]);
}

/**
 * Finds a sheet of the spreadsheet by its id (the gid in its URL).
 *
 * @param {!Object} spreadsheet the Spreadsheet.
 * @param {number} sheetId the sheet's id.
 * @return {?Object} the Sheet, or null when it no longer exists.
 */
function sheetById_(spreadsheet, sheetId) {
  const sheets = spreadsheet.getSheets();
  for (let i = 0; i < sheets.length; i++) {
    if (sheets[i].getSheetId() === sheetId) {
      return sheets[i];
    }
  }
  return null;
}

/**
 * The link that opens the spreadsheet at a row.
 *
 * @param {!Object} spreadsheet the Spreadsheet.
 * @param {!Object} sheet the Sheet.
 * @param {number} row the sheet row number.
 * @return {string} e.g. ".../edit#gid=0&range=A12".
 */
function rowUrl_(spreadsheet, sheet, row) {
  return spreadsheet.getUrl().replace(/#.*$/, '') + '#gid=' + sheet.getSheetId() + '&range=A' + row;
}
