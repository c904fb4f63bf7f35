/**
 * @fileoverview Training a model on this sheet from the sidebar, and the model's health.
 *
 * The sheet's history goes to the backend in chunks (an upload: the header, then rows),
 * and the backend trains in the background. A sheet can hold tens of thousands of rows,
 * more than one Apps Script call may spend time on (6 minutes), so each call sends chunks
 * for at most UPLOAD_CALL_BUDGET_MS and returns where it stopped; the sidebar calls again
 * until every row is sent, then polls the job. Each model has a name: the spreadsheet's
 * id unless the team picks a shared name (several sheets, one model).
 */

/** Backend paths for models and training jobs (see backend/openapi.json). */
const MODEL_PATHS = Object.freeze({
  MODEL: (name) => '/v1/models/' + encodeURIComponent(name),
  UPLOADS: (name) => '/v1/models/' + encodeURIComponent(name) + '/uploads',
  UPLOAD: (name, id) => '/v1/models/' + encodeURIComponent(name) + '/uploads/' + encodeURIComponent(id),
  TRAIN: (name) => '/v1/models/' + encodeURIComponent(name) + '/train',
  PROMOTE: (name) => '/v1/models/' + encodeURIComponent(name) + '/promote',
  ROLLBACK: (name) => '/v1/models/' + encodeURIComponent(name) + '/rollback',
  JOB: (id) => '/v1/jobs/' + encodeURIComponent(id),
});

/** A model name as the backend accepts it. */
const MODEL_NAME_PATTERN = /^[A-Za-z0-9_-]{1,200}$/;

/** Time one call may spend sending chunks (Apps Script stops a call at 6 minutes). */
const UPLOAD_CALL_BUDGET_MS = 4 * 60 * 1000;

/** A column with at most this many different values is offered as an outcome column. */
const MAX_OUTCOME_VALUES = 30;

/** Header words that suggest each choice. */
const SUGGEST = Object.freeze({
  target: /\b(status|stage|outcome|result|won|converted)\b/i,
  positive: /^(won|closed won|closed-won|yes|true|1|converted|customer)$/i,
  value: /\b(mrr|arr|revenue|value|amount|deal size|deal)\b/i,
  name: /\b(company|account|organi[sz]ation|business|name)\b/i,
});

/**
 * The model name this spreadsheet trains and scores with.
 *
 * @param {!Object} spreadsheet the Spreadsheet.
 * @return {string} the shared name set for it, or its id.
 */
function modelNameFor_(spreadsheet) {
  return loadModelName_() || spreadsheet.getId();
}

/**
 * What the Train panel offers: the sheet's columns, the values of the columns that can be
 * an outcome, and suggestions for the outcome, the winning value, the value (MRR) column
 * and the name column.
 *
 * @return {{sheet: string, model: string, shared: boolean, columns: !Array<string>,
 *     outcomes: !Object<string, !Array<string>>, suggested: !Object}} the options.
 */
function getTrainOptions() {
  const spreadsheet = SpreadsheetApp.getActiveSpreadsheet();
  const sheet = spreadsheet.getActiveSheet();
  const values = sheet.getDataRange().getValues();
  const header = (values[0] || []).map((h) => String(h).trim());
  const outcomes = {};
  header.forEach((name, col) => {
    if (!name) {
      return;
    }
    const seen = {};
    let count = 0;
    for (let r = 1; r < values.length && count <= MAX_OUTCOME_VALUES; r++) {
      const text = String(values[r][col] === null || values[r][col] === undefined ? '' : values[r][col]).trim();
      if (text && !seen[text]) {
        seen[text] = true;
        count += 1;
      }
    }
    if (count >= 2 && count <= MAX_OUTCOME_VALUES) {
      outcomes[name] = Object.keys(seen).sort();
    }
  });
  const target = header.find((h) => outcomes[h] && SUGGEST.target.test(h)) || null;
  const positive = target ? (outcomes[target].find((v) => SUGGEST.positive.test(v)) || null) : null;
  const model = modelNameFor_(spreadsheet);
  return {
    sheet: sheet.getName(),
    model: model,
    shared: model !== spreadsheet.getId(),
    columns: header.filter((h) => h),
    outcomes: outcomes,
    suggested: {
      target: target,
      positive: positive,
      value: header.find((h) => h && h !== target && SUGGEST.value.test(h)) || null,
      name: header.find((h) => h && SUGGEST.name.test(h)) || null,
    },
    nameColumn: nameColumnFor_(header),
  };
}

/**
 * Sets (or clears) the shared model name of this spreadsheet.
 *
 * @param {string} name a model name, or "" for the spreadsheet's own model.
 * @return {string} the model name now used.
 * @throws {ScoringError} when the name is not a valid model name.
 */
function setModelName(name) {
  const spreadsheet = SpreadsheetApp.getActiveSpreadsheet();
  const text = String(name || '').trim();
  if (!text || text === spreadsheet.getId()) {
    storeModelName_('');
    return spreadsheet.getId();
  }
  if (!MODEL_NAME_PATTERN.test(text)) {
    throw new ScoringError('bad_model_name',
        'A model name uses only letters, digits, "-" and "_" (up to 200), e.g. "emea-sales".');
  }
  storeModelName_(text);
  return text;
}

/**
 * The column the top leads are listed by: the user's pick when this sheet has it, else the
 * first column that looks like a company or a name, else none (the key column is used).
 *
 * @param {!Array<*>} header the sheet's header row.
 * @return {?string} the header text, or null.
 */
function nameColumnFor_(header) {
  const names = header.map((h) => String(h).trim());
  const picked = loadNameColumn_();
  if (picked && names.indexOf(picked) >= 0) {
    return picked;
  }
  return names.find((h) => h && SUGGEST.name.test(h)) || null;
}

/**
 * Sets the column the top leads are listed by ("" for the automatic choice).
 *
 * @param {string} name a header text of the active sheet, or "".
 * @return {?string} the column now used.
 * @throws {ScoringError} when the active sheet has no such column.
 */
function setNameColumn(name) {
  const header = SpreadsheetApp.getActiveSheet().getDataRange().getValues()[0] || [];
  const text = String(name || '').trim();
  if (text && header.map((h) => String(h).trim()).indexOf(text) < 0) {
    throw new ScoringError('bad_choice', 'This sheet has no column "' + text + '".');
  }
  storeNameColumn_(text);
  return nameColumnFor_(header);
}

/**
 * Starts training on this sheet: creates the upload and sends the first chunks. Call
 * continueTraining with the answer while its state is "uploading".
 *
 * @param {{target: string, positive: string, value: (string|undefined)}} choice the
 *     outcome column, its winning value, and optionally the value (MRR) column.
 * @return {!Object} the progress (see continueTraining).
 * @throws {ScoringError} when the choice does not fit the sheet or the backend refuses.
 */
function startTraining(choice) {
  const settings = requireSettings_();
  const spreadsheet = SpreadsheetApp.getActiveSpreadsheet();
  const sheet = spreadsheet.getActiveSheet();
  const values = sheet.getDataRange().getValues();
  const header = (values[0] || []).map((h) => String(h).trim());
  ['target', 'value'].forEach((key) => {
    if (choice[key] && header.indexOf(choice[key]) < 0) {
      throw new ScoringError('bad_choice', 'This sheet has no column "' + choice[key] + '".');
    }
  });
  if (!choice.target || !choice.positive) {
    throw new ScoringError('bad_choice', 'Pick the outcome column and the value that means won.');
  }
  const model = modelNameFor_(spreadsheet);
  const body = apiCall_(settings, 'post', MODEL_PATHS.UPLOADS(model), { header: header }, 201);
  const state = {
    state: 'uploading', model: model, uploadId: body.upload_id, sheetId: sheet.getSheetId(),
    sent: 0, total: Math.max(0, values.length - 1),
    choice: { target: choice.target, positive: String(choice.positive), value: choice.value || null },
  };
  return sendChunks_(settings, spreadsheet, sheet, values, state);
}

/**
 * Sends the next chunks of an upload; once every row is sent, starts the training job.
 *
 * @param {!Object} state what startTraining or the previous call returned.
 * @return {{state: string, model: string, sent: number, total: number,
 *     job: (Object|undefined)}} "uploading" (call again) or "training" with the job.
 */
function continueTraining(state) {
  const settings = requireSettings_();
  const spreadsheet = SpreadsheetApp.getActiveSpreadsheet();
  const sheet = spreadsheet.getSheets().find((s) => s.getSheetId() === state.sheetId) ||
      spreadsheet.getActiveSheet();
  return sendChunks_(settings, spreadsheet, sheet, sheet.getDataRange().getValues(), state);
}

/**
 * Sends chunks within the call's time budget, then (when all are sent) starts the job.
 *
 * @param {!Object} settings from requireSettings_.
 * @param {!Object} spreadsheet the Spreadsheet.
 * @param {!Object} sheet the Sheet.
 * @param {!Array<!Array<*>>} values the sheet's values, header first.
 * @param {!Object} state the upload's progress.
 * @return {!Object} the new progress.
 */
function sendChunks_(settings, spreadsheet, sheet, values, state) {
  const started = Date.now();
  const timeZone = spreadsheet.getSpreadsheetTimeZone();
  const width = (values[0] || []).length;
  const total = Math.max(0, values.length - 1);
  const next = Object.assign({}, state, { total: total });
  while (next.sent < total && Date.now() - started < UPLOAD_CALL_BUDGET_MS) {
    const rows = [];
    let chars = 0;
    for (let r = next.sent + 1; r < values.length && rows.length < settings.maxRows; r++) {
      const cells = values[r].slice(0, width).map((cell) => cellToJson_(cell, timeZone));
      chars += JSON.stringify(cells).length + 1;
      if (rows.length && chars > MAX_PAYLOAD_CHARS) {
        break;
      }
      rows.push(cells);
    }
    apiCall_(settings, 'post', MODEL_PATHS.UPLOAD(next.model, next.uploadId), { rows: rows }, 200);
    next.sent += rows.length;
  }
  if (next.sent < total) {
    return next;
  }
  const body = {
    upload_id: next.uploadId, target: next.choice.target, positive: next.choice.positive,
    spreadsheet_id: spreadsheet.getId(), sheet: sheet.getName(),
  };
  if (next.choice.value) {
    body.value = next.choice.value;
  }
  next.state = 'training';
  next.job = apiCall_(settings, 'post', MODEL_PATHS.TRAIN(next.model), body, 202);
  return next;
}

/**
 * A training job's progress, and its result when finished.
 *
 * @param {string} jobId the job's id.
 * @return {!Object} the job (state, stage, percent, result, error).
 */
function getTrainingJob(jobId) {
  return apiCall_(requireSettings_(), 'get', MODEL_PATHS.JOB(jobId), null, 200);
}

/**
 * Promote: serve a trained version (one that failed its gates only when `force`).
 *
 * @param {string} version the version to serve.
 * @param {boolean} force true to serve it although it failed its quality gates.
 * @return {!Object} the model's health after the promotion.
 */
function promoteModel(version, force) {
  const model = modelNameFor_(SpreadsheetApp.getActiveSpreadsheet());
  return apiCall_(requireSettings_(), 'post', MODEL_PATHS.PROMOTE(model),
      { version: String(version), force: force === true }, 200);
}

/**
 * Keep current after an automatic promotion: serve the version served before.
 *
 * @return {!Object} the model's health after the rollback.
 */
function keepPreviousModel() {
  const model = modelNameFor_(SpreadsheetApp.getActiveSpreadsheet());
  return apiCall_(requireSettings_(), 'post', MODEL_PATHS.ROLLBACK(model), null, 200);
}

/**
 * The health of this sheet's model: "passed", "forced" (served although it failed its
 * gates) or "none" (no model by this name yet; the default model scores meanwhile).
 *
 * @return {{state: string, model: string, health: (Object|null)}} the health card's data.
 */
function getModelHealth() {
  const settings = requireSettings_();
  const model = modelNameFor_(SpreadsheetApp.getActiveSpreadsheet());
  const response = fetchOne_(apiRequest_(settings, 'get', MODEL_PATHS.MODEL(model), null), settings);
  if (response.getResponseCode() === 404) {
    const problem = parseProblem_(response);
    if (problem && /not-found$/.test(String(problem.type || ''))) {
      return { state: 'none', model: model, health: null };
    }
  }
  if (response.getResponseCode() !== 200) {
    throw describeHttpFailure_(response, settings);
  }
  const health = parseJson_(response.getContentText());
  if (!health || !health.gates) {
    throw unexpectedAnswer_(settings);
  }
  return { state: health.gates.forced ? 'forced' : 'passed', model: model, health: health };
}

/**
 * Shows a model version's report in a dialog (fetched with the user's sign-in).
 *
 * @param {string} reportUrl the report's path from the health or the job's result.
 */
function showModelReport(reportUrl) {
  const settings = requireSettings_();
  if (!/^\/v1\/models\/[A-Za-z0-9_-]+\/versions\/[A-Za-z0-9._-]+\/report$/.test(String(reportUrl))) {
    throw new ScoringError('bad_report', 'That is not a model report link.');
  }
  const response = fetchOne_(apiRequest_(settings, 'get', reportUrl, null), settings);
  if (response.getResponseCode() !== 200) {
    throw describeHttpFailure_(response, settings);
  }
  const output = HtmlService.createHtmlOutput(response.getContentText()).setWidth(900).setHeight(700);
  SpreadsheetApp.getUi().showModalDialog(output, 'Model report');
}

/**
 * A request to the backend with the user's sign-in.
 *
 * @param {!Object} settings the stored settings.
 * @param {string} method "get" or "post".
 * @param {string} path the API path.
 * @param {?Object} body the JSON body, or null.
 * @return {!Object} a UrlFetchApp request object.
 */
function apiRequest_(settings, method, path, body) {
  const request = {
    url: settings.backendUrl + path,
    method: method,
    headers: authHeaders_(settings),
    muteHttpExceptions: true,
  };
  if (body !== null && body !== undefined) {
    request.contentType = 'application/json';
    request.payload = JSON.stringify(body);
  }
  return request;
}

/**
 * Calls the backend and returns its JSON answer, or throws what went wrong in words.
 *
 * @param {!Object} settings the stored settings.
 * @param {string} method "get" or "post".
 * @param {string} path the API path.
 * @param {?Object} body the JSON body, or null.
 * @param {number} expected the status of success (200, 201 or 202).
 * @return {!Object} the answer.
 * @throws {ScoringError} on any other answer.
 */
function apiCall_(settings, method, path, body, expected) {
  const response = fetchOne_(apiRequest_(settings, method, path, body), settings);
  if (response.getResponseCode() === 404) {
    const problem = parseProblem_(response);
    if (problem && /not-found$/.test(String(problem.type || '')) && problem.detail) {
      // The service answered: a model, upload or job it does not know (not a wrong URL).
      throw new ScoringError('not_found', sentence_(String(problem.detail)), { status: 404 });
    }
  }
  if (response.getResponseCode() !== expected) {
    throw describeHttpFailure_(response, settings);
  }
  const answer = parseJson_(response.getContentText());
  if (!answer || typeof answer !== 'object') {
    throw unexpectedAnswer_(settings);
  }
  return answer;
}
