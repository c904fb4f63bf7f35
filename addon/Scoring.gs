/**
 * @fileoverview One scoring run: take the document lock, find the rows, send them in
 * chunks, and turn the answers into one summary (rows scored, rows skipped and why, the
 * score distribution, the top leads).
 */

/** What started a run. */
const RUN_MODES = Object.freeze({
  SELECTED: 'selected',
  UNSCORED: 'unscored',
  EDIT: 'edit',
  CHANGE: 'change',
  SWEEP: 'sweep',
});

/** How long a click waits for another run to finish before saying one is in progress. */
const CLICK_LOCK_WAIT_MS = 3000;

/** How long a trigger waits before leaving its rows for the next run. */
const TRIGGER_LOCK_WAIT_MS = 10000;

/** Leads listed in the summary. */
const TOP_LEADS = 5;

/** Row numbers kept per skip reason in the summary. */
const ROWS_PER_REASON = 20;

/** How the backend words the skip of a row that moved after it was read (no code for it). */
const MOVED_PATTERN = /\b(moved|changed|sorted|inserted|deleted|no longer)\b/i;

/**
 * Runs one scoring pass under the document lock.
 *
 * @param {{mode: string, sheet: (Object|undefined), rows: (Array<number>|undefined),
 *     fromTrigger: (boolean|undefined)}} options what to score: `mode` is one of
 *     RUN_MODES; `sheet` defaults to the active sheet; `rows` are the edited rows (edit).
 * @return {!Object} the run's summary (also stored as the last run).
 * @throws {ScoringError} when nothing could be scored (settings, lock, backend, sheet).
 */
function runScoring_(options) {
  const settings = requireSettings_();
  const lock = LockService.getDocumentLock() || LockService.getScriptLock();
  if (!lock.tryLock(options.fromTrigger ? TRIGGER_LOCK_WAIT_MS : CLICK_LOCK_WAIT_MS)) {
    throw new ScoringError('busy', MESSAGES.busy);
  }
  try {
    return runLocked_(settings, options);
  } finally {
    lock.releaseLock();
  }
}

/**
 * The body of a run, with the lock held.
 *
 * @param {!Object} settings from requireSettings_.
 * @param {!Object} options as for runScoring_.
 * @return {!Object} the run's summary.
 * @throws {ScoringError} when nothing could be scored.
 */
function runLocked_(settings, options) {
  const startedAt = new Date();
  const spreadsheet = SpreadsheetApp.getActiveSpreadsheet();
  const sheet = options.sheet || spreadsheet.getActiveSheet();
  const layout = readLayout_(sheet);
  const keyColumn = resolveKeyColumn_(settings, layout, sheet);
  // Edits that came in while another run held the lock are scored by the next trigger run.
  const pending = options.fromTrigger ? loadPendingRows_() : [];

  let health = null;
  let plan;
  if (options.mode === RUN_MODES.SELECTED) {
    plan = planSelected_(spreadsheet, sheet, layout);
  } else if (options.mode === RUN_MODES.EDIT) {
    plan = planRows_(sheet, layout, unionRows_(options.rows || [], pending));
  } else {
    health = healthOrRules_(settings, spreadsheet, sheet);
    plan = planUnscored_(sheet, layout, health.model.version, pending);
  }

  const payloads = buildPayloads_(spreadsheet, sheet, layout, plan.entries,
      { maxRows: settings.maxRows, keyColumn: keyColumn });
  const outcomes = payloads.length ? postChunks_(settings, payloads) : [];
  const failures = outcomes.filter((outcome) => !outcome.ok);
  if (outcomes.length && failures.length === outcomes.length) {
    throw failures[0].error;
  }
  if (pending.length) {
    storePendingRows_([]);
  }

  const summary = summarize_({
    mode: options.mode,
    spreadsheet: spreadsheet,
    sheet: sheet,
    layout: layout,
    keyColumn: keyColumn,
    plan: plan,
    payloads: payloads,
    outcomes: outcomes,
    model: health ? health.model : null,
    startedAt: startedAt,
  });
  // A trigger that found nothing to do keeps the last real run on show.
  if (payloads.length || !options.fromTrigger) {
    storeLastRun_(summary);
  }
  return summary;
}

/**
 * The model the backend serves; with a Scoring Rules tab and no model on the backend, the
 * rules themselves (the backend then scores by the rules alone and writes "rules" as the
 * Model Version).
 *
 * @param {!Object} settings from requireSettings_.
 * @param {!Object} spreadsheet the Spreadsheet.
 * @param {!Object} sheet the Sheet being scored.
 * @return {{status: string, model: {name: string, version: string}}} what scores the rows.
 * @throws {ScoringError} when the backend fails, or has no model and there are no rules.
 */
function healthOrRules_(settings, spreadsheet, sheet) {
  try {
    return fetchHealth_(settings);
  } catch (err) {
    if (err && err.code === 'no_model' &&
        readScoringRules_(spreadsheet, sheet, spreadsheet.getSpreadsheetTimeZone())) {
      return { status: 'rules', model: { name: 'rules', version: 'rules' } };
    }
    throw err;
  }
}

/**
 * The rows of the current selection, read, with hidden and empty rows set aside.
 *
 * @param {!Object} spreadsheet the Spreadsheet.
 * @param {!Object} sheet the active Sheet.
 * @param {!Object} layout from readLayout_.
 * @return {{entries: !Array<Object>, skipped: !Array<Object>, notice: ?string}} the plan.
 */
function planSelected_(spreadsheet, sheet, layout) {
  const selection = selectedRowNumbers_(spreadsheet, sheet, layout);
  const plan = planRows_(sheet, layout, selection.rows);
  plan.skipped = selection.skipped.concat(plan.skipped).sort((a, b) => a.row - b.row);
  if (!plan.entries.length && !plan.skipped.length) {
    plan.notice = 'No lead rows are selected. Select the rows to score (row 1 is the header) ' +
        'and try again.';
  }
  return plan;
}

/**
 * Reads the given rows, setting empty ones aside.
 *
 * @param {!Object} sheet the Sheet.
 * @param {!Object} layout from readLayout_.
 * @param {!Array<number>} rowNumbers sheet row numbers, ascending, unique.
 * @return {{entries: !Array<Object>, skipped: !Array<Object>, notice: ?string}} the plan.
 */
function planRows_(sheet, layout, rowNumbers) {
  const entries = [];
  const skipped = [];
  readRows_(sheet, layout, rowNumbers).forEach((entry) => {
    if (isBlankRow_(entry.cells, layout)) {
      skipped.push({ row: entry.row, reason: SKIP_REASONS.EMPTY });
    } else {
      entries.push(entry);
    }
  });
  return { entries: entries, skipped: skipped, notice: null };
}

/**
 * The rows that need a score from the active model (plus rows waiting for a rescore).
 *
 * @param {!Object} sheet the Sheet.
 * @param {!Object} layout from readLayout_.
 * @param {string} activeVersion the model version the backend serves.
 * @param {!Array<number>} extraRows rows to score whatever their state.
 * @return {{entries: !Array<Object>, skipped: !Array<Object>, notice: ?string}} the plan.
 */
function planUnscored_(sheet, layout, activeVersion, extraRows) {
  const extra = {};
  extraRows.forEach((row) => { extra[row] = true; });
  const entries = readAllRows_(sheet, layout).filter((entry) =>
    !isBlankRow_(entry.cells, layout) &&
        (extra[entry.row] || isUnscoredRow_(entry.cells, layout, activeVersion)));
  return {
    entries: entries,
    skipped: [],
    notice: entries.length ? null :
        'Every lead in "' + sheet.getName() + '" already has a score from model ' +
        activeVersion + '.',
  };
}

/**
 * Merges two lists of row numbers.
 *
 * @param {!Array<number>} a row numbers.
 * @param {!Array<number>} b row numbers.
 * @return {!Array<number>} the rows of both, ascending, unique.
 */
function unionRows_(a, b) {
  return Array.from(new Set(a.concat(b))).sort((x, y) => x - y);
}

/**
 * Aggregates the chunks' answers into one summary for the sidebar.
 *
 * @param {{mode: string, spreadsheet: !Object, sheet: !Object, layout: !Object,
 *     keyColumn: ?string, plan: !Object, payloads: !Array<Object>,
 *     outcomes: !Array<Object>, model: ?Object, startedAt: !Date}} run the run's parts.
 * @return {{mode: string, sheet: string, sheetId: number, startedAt: string,
 *     durationMs: number, sent: number, scored: number, skippedCount: number,
 *     skipped: !Array<{reason: string, count: number, rows: !Array<number>}>,
 *     moved: number, distribution: !Array<number>, topLeads: !Array<Object>,
 *     model: ?Object, warnings: !Array<string>, errors: !Array<string>,
 *     notice: ?string}} the summary.
 */
function summarize_(run) {
  const skipped = run.plan.skipped.slice();
  const distribution = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
  const leads = [];
  const warnings = [];
  const errors = [];
  const cellsByRow = {};
  const timeZone = run.spreadsheet.getSpreadsheetTimeZone();
  run.plan.entries.forEach((entry) => { cellsByRow[entry.row] = entry.cells; });
  let model = run.model;
  let scored = 0;
  let moved = 0;

  run.outcomes.forEach((outcome, i) => {
    if (!outcome.ok) {
      pushUnique_(errors, outcome.error.message);
      const reason = 'Not sent: ' + outcome.error.message;
      run.payloads[i].rows.forEach((r) => skipped.push({ row: r.row, reason: reason }));
      return;
    }
    const body = outcome.body;
    // keep what the health check said about the model (its quality) beside the score response's name/version
    model = body.model ? Object.assign({}, model || {}, body.model) : model;
    (body.warnings || []).forEach((w) => pushUnique_(warnings, String(w.message || w.code)));
    (body.skipped || []).forEach((s) => {
      const reason = String(s.reason || 'Skipped by the scoring service');
      if (s.code === 'row_moved' || (MOVED_PATTERN.test(reason) && !/^Not scored/i.test(reason))) {
        moved += 1;
      }
      skipped.push({ row: s.row, reason: reason });
    });
    const results = {};
    (body.results || []).forEach((r) => { results[r.row] = r; });
    body.written.forEach((row) => {
      const result = results[row];
      if (result && (result.lead_score === null || result.lead_score === undefined)) {
        skipped.push({ row: row, reason: 'Could not be scored: ' + unscorableReason_(result) });
        return;
      }
      scored += 1;
      if (!result) {
        return;
      }
      const score = Math.round(result.lead_score);
      if (score >= 1 && score <= 10) {
        distribution[score - 1] += 1;
      }
      leads.push({
        row: row,
        label: leadLabel_(cellsByRow[row], run.layout, nameColumnFor_(run.layout.header) || run.keyColumn, row,
            timeZone),
        reasons: (result.reasons || []).slice(0, 3).map(String),
        score: score,
        probability: typeof result.close_probability === 'number' ? result.close_probability : null,
        mrr: typeof result.predicted_mrr === 'number' ? result.predicted_mrr : null,
        segment: result.segment || '',
        url: rowUrl_(run.spreadsheet, run.sheet, row),
      });
    });
  });

  leads.sort((a, b) => b.score - a.score || expectedValue_(b) - expectedValue_(a) || a.row - b.row);
  const sent = run.payloads.reduce((n, p) => n + p.rows.length, 0);
  let notice = run.plan.notice;
  if (moved) {
    notice = moved + (moved === 1 ? ' row' : ' rows') + ' moved while scoring (the sheet was ' +
        'sorted, or rows were added or deleted), so their scores were not written. Score ' +
        'them again.';
  }
  return {
    mode: run.mode,
    sheet: run.sheet.getName(),
    sheetId: run.sheet.getSheetId(),
    startedAt: run.startedAt.toISOString(),
    durationMs: new Date().getTime() - run.startedAt.getTime(),
    sent: sent,
    scored: scored,
    skippedCount: skipped.length,
    skipped: groupSkipped_(skipped),
    moved: moved,
    distribution: distribution,
    topLeads: leads.slice(0, TOP_LEADS),
    model: model,
    warnings: warnings,
    errors: errors,
    notice: notice,
  };
}

/**
 * Groups skipped rows by reason, the most frequent first.
 *
 * @param {!Array<{row: number, reason: string}>} skipped one entry per row.
 * @return {!Array<{reason: string, count: number, rows: !Array<number>}>} the groups,
 *     each with its first row numbers.
 */
function groupSkipped_(skipped) {
  const groups = {};
  const order = [];
  skipped.forEach((s) => {
    if (!groups[s.reason]) {
      groups[s.reason] = { reason: s.reason, count: 0, rows: [] };
      order.push(s.reason);
    }
    groups[s.reason].count += 1;
    groups[s.reason].rows.push(s.row);
  });
  return order.map((reason) => groups[reason])
      .map((g) => ({
        reason: g.reason,
        count: g.count,
        rows: g.rows.sort((a, b) => a - b).slice(0, ROWS_PER_REASON),
      }))
      .sort((a, b) => b.count - a.count);
}

/**
 * The text that names a lead in the summary: its key column, else its first data column.
 *
 * @param {Array<*>|undefined} cells the row from getValues().
 * @param {!Object} layout from readLayout_.
 * @param {?string} keyColumn the key column's header text, or null.
 * @param {number} row the sheet row number, used when the row has no text.
 * @param {string} timeZone the spreadsheet's time zone, for a date used as a name.
 * @return {string} e.g. "Acme Corp".
 */
function leadLabel_(cells, layout, keyColumn, row, timeZone) {
  if (cells) {
    const keyIndex = keyColumn === null ? undefined :
        layout.dataColumns.find((i) => String(layout.header[i]) === keyColumn);
    const columns = keyIndex === undefined ? layout.dataColumns : [keyIndex].concat(layout.dataColumns);
    for (let i = 0; i < columns.length; i++) {
      const text = headerText_(cellToJson_(cells[columns[i]], timeZone));
      if (text !== '') {
        return text.length > 60 ? text.slice(0, 59) + '…' : text;
      }
    }
  }
  return 'Row ' + row;
}

/**
 * A lead's expected value, to order leads with the same score.
 *
 * @param {{probability: ?number, mrr: ?number}} lead a top-lead entry.
 * @return {number} probability × MRR (or the probability when there is no MRR).
 */
function expectedValue_(lead) {
  const p = lead.probability === null ? 0 : lead.probability;
  return lead.mrr === null ? p : p * lead.mrr;
}

/**
 * Why the backend could not score a row.
 *
 * @param {!Object} result a SheetRowResult with no lead_score.
 * @return {string} the reason given, or a general one.
 */
function unscorableReason_(result) {
  if (result.error) {
    return String(result.error);
  }
  if (result.reasons && result.reasons.length) {
    return String(result.reasons[0]);
  }
  return 'no usable values';
}

/**
 * Appends a value to a list unless it is already there.
 *
 * @param {!Array<string>} list the list.
 * @param {string} value the value.
 */
function pushUnique_(list, value) {
  if (list.indexOf(value) < 0) {
    list.push(value);
  }
}

/**
 * A short sentence about a run, for a toast.
 *
 * @param {!Object} summary from runScoring_.
 * @return {string} e.g. "Scored 118 rows; 3 skipped."
 */
function summaryLine_(summary) {
  if (!summary.sent && summary.notice) {
    return summary.notice;
  }
  let line = 'Scored ' + summary.scored + (summary.scored === 1 ? ' row' : ' rows');
  if (summary.skippedCount) {
    line += '; ' + summary.skippedCount + ' skipped';
  }
  line += '.';
  if (summary.errors.length) {
    line += ' ' + summary.errors[0];
  } else if (summary.moved) {
    line += ' ' + summary.notice;
  }
  return line;
}
