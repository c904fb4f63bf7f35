/**
 * @fileoverview Every call to the scoring backend: request bodies and requests,
 * authentication, problem+json parsing and how a failed call is explained (the words
 * themselves are in Messages.gs).
 */

/** Backend paths (see backend/openapi.json). */
const API_PATHS = Object.freeze({
  HEALTH: '/healthz',
  SHEET_SCORE: '/v1/sheets/score',
  SEGMENTS: '/v1/model/segments',
});

/** Chunks sent at once with UrlFetchApp.fetchAll; more wait for the next round. */
const MAX_PARALLEL_REQUESTS = 4;

/** Rough cap on one request body, well under the backend's and UrlFetchApp's limits. */
const MAX_PAYLOAD_CHARS = 4 * 1024 * 1024;

/**
 * A failure the user can act on. `message` is the sentence the sidebar shows; `code`
 * tells the kind of failure (see describeHttpFailure_), `status` the HTTP status if any.
 */
class ScoringError extends Error {
  /**
   * @param {string} code the kind of failure, e.g. "not_authorized".
   * @param {string} message what the user sees.
   * @param {{status: (number|undefined), detail: (string|undefined),
   *     requestId: (string|undefined)}=} extra what the backend said, for logs.
   */
  constructor(code, message, extra) {
    super(message);
    this.name = 'ScoringError';
    this.code = code;
    this.status = (extra && extra.status) || null;
    this.detail = (extra && extra.detail) || '';
    this.requestId = (extra && extra.requestId) || '';
  }
}

/**
 * The authentication headers for the backend: the API key when the user set one,
 * otherwise the user's Google ID token (audience = this script's OAuth client id).
 *
 * @param {{apiKey: string}} settings the stored settings.
 * @return {!Object<string, string>} headers to add to a request.
 */
function authHeaders_(settings) {
  if (settings.apiKey) {
    return { 'X-API-Key': settings.apiKey };
  }
  let token = null;
  try {
    token = ScriptApp.getIdentityToken();
  } catch (err) {
    // Without the openid scope there is no token; the backend answers 401 and says so.
    token = null;
  }
  return token ? { Authorization: 'Bearer ' + token } : {};
}

/**
 * Builds the request bodies for the rows, in chunks of at most `maxRows` rows (and a
 * few MB each). Cells go by position from column A, as getValues() gives them, because
 * the backend checks the sheet's columns by position before writing; they end at the last
 * data column, so output columns to the right of the data (where they are created) are
 * not sent.
 *
 * @param {!Object} spreadsheet the Spreadsheet.
 * @param {!Object} sheet the Sheet the rows come from.
 * @param {{header: !Array<*>, sendWidth: number}} layout from readLayout_.
 * @param {!Array<{row: number, cells: !Array<*>}>} entries the rows to score.
 * @param {{maxRows: number, keyColumn: ?string}} options rows per request, and the key
 *     column's header text (from resolveKeyColumn_) or null.
 * @return {!Array<!Object>} SheetScoreRequest bodies, rows in sheet order.
 */
function buildPayloads_(spreadsheet, sheet, layout, entries, options) {
  const timeZone = spreadsheet.getSpreadsheetTimeZone();
  const width = layout.sendWidth;
  const header = layout.header.slice(0, width).map((name) => cellToJson_(name, timeZone));
  const base = {
    spreadsheet_id: spreadsheet.getId(),
    sheet: sheet.getName(),
    header: header,
  };
  if (options.keyColumn) {
    base.key_columns = [options.keyColumn];
  }
  const rules = readScoringRules_(spreadsheet, sheet, timeZone);
  if (rules) {
    base.rules = rules;
  }
  if (loadModelName_()) {
    base.model = loadModelName_();  // a shared model; otherwise the backend picks this sheet's own
  }
  const baseChars = JSON.stringify(base).length + 16;
  const payloads = [];
  let rows = [];
  let chars = baseChars;
  entries.forEach((entry) => {
    const sheetRow = {
      row: entry.row,
      values: entry.cells.slice(0, width).map((cell) => cellToJson_(cell, timeZone)),
    };
    const size = JSON.stringify(sheetRow).length + 1;
    if (rows.length && (rows.length >= options.maxRows || chars + size > MAX_PAYLOAD_CHARS)) {
      payloads.push(Object.assign({}, base, { rows: rows }));
      rows = [];
      chars = baseChars;
    }
    rows.push(sheetRow);
    chars += size;
  });
  if (rows.length) {
    payloads.push(Object.assign({}, base, { rows: rows }));
  }
  return payloads;
}

/**
 * Builds the UrlFetchApp request that scores one chunk of rows.
 *
 * @param {{backendUrl: string, apiKey: string}} settings the stored settings.
 * @param {!Object} payload a SheetScoreRequest body.
 * @return {!Object} a request object for UrlFetchApp.fetch / fetchAll.
 */
function buildScoreRequest_(settings, payload) {
  return {
    url: settings.backendUrl + API_PATHS.SHEET_SCORE,
    method: 'post',
    contentType: 'application/json',
    headers: authHeaders_(settings),
    payload: JSON.stringify(payload),
    muteHttpExceptions: true,
  };
}

/**
 * Asks the backend whether it is up and which model version it serves.
 *
 * @param {{backendUrl: string}} settings the stored settings.
 * @return {{status: string, model: {name: string, version: string}}} the health body.
 * @throws {ScoringError} when the backend is unreachable, fails, or has no model.
 */
function fetchHealth_(settings) {
  const request = {
    url: settings.backendUrl + API_PATHS.HEALTH,
    method: 'get',
    muteHttpExceptions: true,
  };
  const response = fetchOne_(request, settings);
  if (response.getResponseCode() !== 200) {
    throw describeHttpFailure_(response, settings);
  }
  const body = parseJson_(response.getContentText());
  if (!body || typeof body.status !== 'string') {
    throw unexpectedAnswer_(settings);
  }
  if (!body.model || body.model.version === undefined || body.model.version === null) {
    throw new ScoringError('no_model', MESSAGES.noModel, { status: 200 });
  }
  body.model.version = String(body.model.version);
  return body;
}

/**
 * Asks the backend for the current model's segment table.
 *
 * @param {{backendUrl: string, apiKey: string}} settings the stored settings.
 * @return {{model: !Object, method: ?string, base_rate: ?number, segments: !Array<!Object>}}
 *     the SegmentTable body (highest conversion first; empty for a model without segments).
 * @throws {ScoringError} when the backend is unreachable, refuses, or has no model.
 */
function fetchSegments_(settings) {
  const request = {
    url: settings.backendUrl + API_PATHS.SEGMENTS,
    method: 'get',
    headers: authHeaders_(settings),
    muteHttpExceptions: true,
  };
  const response = fetchOne_(request, settings);
  if (response.getResponseCode() !== 200) {
    throw describeHttpFailure_(response, settings);
  }
  const body = parseJson_(response.getContentText());
  if (!body || !Array.isArray(body.segments)) {
    throw unexpectedAnswer_(settings);
  }
  return body;
}

/**
 * Sends chunks of rows to be scored and written, several at once.
 *
 * @param {{backendUrl: string, apiKey: string}} settings the stored settings.
 * @param {!Array<!Object>} payloads SheetScoreRequest bodies, one per chunk.
 * @return {!Array<{ok: boolean, body: (Object|undefined), error: (ScoringError|undefined)}>}
 *     one outcome per chunk, in the order given.
 */
function postChunks_(settings, payloads) {
  const requests = payloads.map((payload) => buildScoreRequest_(settings, payload));
  const outcomes = [];
  for (let start = 0; start < requests.length; start += MAX_PARALLEL_REQUESTS) {
    const batch = requests.slice(start, start + MAX_PARALLEL_REQUESTS);
    let responses;
    try {
      responses = batch.length === 1 ?
          [UrlFetchApp.fetch(batch[0].url, batch[0])] :
          UrlFetchApp.fetchAll(batch);
    } catch (err) {
      const failure = describeFetchException_(err, settings);
      batch.forEach(() => outcomes.push({ ok: false, error: failure }));
      continue;
    }
    responses.forEach((response) => outcomes.push(scoreOutcome_(response, settings)));
  }
  return outcomes;
}

/**
 * Turns one scoring response into an outcome.
 *
 * @param {!Object} response an HTTPResponse.
 * @param {{backendUrl: string}} settings the stored settings.
 * @return {{ok: boolean, body: (Object|undefined), error: (ScoringError|undefined)}} outcome.
 */
function scoreOutcome_(response, settings) {
  if (response.getResponseCode() !== 200) {
    return { ok: false, error: describeHttpFailure_(response, settings) };
  }
  const body = parseJson_(response.getContentText());
  if (!body || !Array.isArray(body.written)) {
    return { ok: false, error: unexpectedAnswer_(settings) };
  }
  return { ok: true, body: body };
}

/**
 * Fetches one request, turning a network failure into a ScoringError.
 *
 * @param {!Object} request a UrlFetchApp request object (with url).
 * @param {{backendUrl: string}} settings the stored settings.
 * @return {!Object} the HTTPResponse.
 * @throws {ScoringError} when the backend cannot be reached.
 */
function fetchOne_(request, settings) {
  try {
    return UrlFetchApp.fetch(request.url, request);
  } catch (err) {
    throw describeFetchException_(err, settings);
  }
}

/**
 * Explains a request that never got an answer (DNS, refused connection, timeout, allowlist).
 *
 * @param {*} err what UrlFetchApp threw.
 * @param {{backendUrl: string}} settings the stored settings.
 * @return {!ScoringError} the error to show.
 */
function describeFetchException_(err, settings) {
  const text = String((err && err.message) || err);
  if (/whitelist|allowlist|not allowed/i.test(text)) {
    return new ScoringError('url_not_allowed',
        'The add-on is not allowed to call ' + backendHost_(settings) + '. Ask your admin to ' +
        'add the backend URL to urlFetchWhitelist in appsscript.json.', { detail: text });
  }
  return new ScoringError('unreachable',
      'Can\'t reach the lead scoring service at ' + backendHost_(settings) + '. It may be down, ' +
      'or the backend URL in Settings may be wrong. Try again in a few minutes.',
      { detail: text });
}

/**
 * Explains a non-200 answer in words a sales rep can act on.
 *
 * @param {!Object} response an HTTPResponse whose status is not 200.
 * @param {{backendUrl: string}} settings the stored settings.
 * @return {!ScoringError} the error to show.
 */
function describeHttpFailure_(response, settings) {
  const status = response.getResponseCode();
  const problem = parseProblem_(response);
  const detail = problem && problem.detail ? String(problem.detail).trim() : '';
  const requestId = problem && problem.request_id ? String(problem.request_id) :
      headerValue_(response, 'X-Request-ID');
  const extra = { status: status, detail: detail, requestId: requestId };
  const ref = requestId ? ' (Reference: ' + requestId + '.)' : '';
  const because = detail ? ' ' + sentence_(detail) : '';

  switch (status) {
    case 400:
    case 422:
      return new ScoringError('bad_data',
          'The lead scoring service could not use this data.' +
          (because || ' Check the selected rows and try again.'), extra);
    case 401:
      return new ScoringError('not_authorized',
          'The lead scoring service did not accept your sign-in.' + (because ||
          ' If your team uses an API key, check it in Settings; otherwise ask your admin to ' +
          'allow this add-on.') + ref, extra);
    case 403:
      return new ScoringError('forbidden',
          'You are not allowed to use the lead scoring service.' + (because ||
          ' Ask your admin to give your Google account (or your team\'s domain) access.') + ref,
          extra);
    case 404:
    case 405:
      return new ScoringError('wrong_url',
          'The backend URL in Settings does not point to the lead scoring service (it ' +
          'answered ' + status + '). Check the URL in Settings.', extra);
    case 413:
      return new ScoringError('too_many_rows',
          'Too many rows in one go. Select fewer rows, or lower "Rows per request" in ' +
          'Settings.' + because, extra);
    case 429:
      return new ScoringError('busy_backend',
          'The lead scoring service is busy. Wait a minute and try again.', extra);
    default:
      break;
  }
  if (status === 502 && problem) {
    return new ScoringError('sheets_write_failed',
        'The leads were scored, but Google Sheets did not accept the new scores, so these ' +
        'rows were not changed. Try again in a minute.' + because + ref, extra);
  }
  if (status === 503 && problem) {
    return new ScoringError('no_model', MESSAGES.noModel + ref, extra);
  }
  if (status >= 500 && !problem) {
    // An answer from a proxy or load balancer, not from the service itself.
    return new ScoringError('backend_down',
        'The lead scoring service at ' + backendHost_(settings) + ' is down or restarting ' +
        '(it answered ' + status + '). Try again in a few minutes.', extra);
  }
  if (status >= 500) {
    return new ScoringError('backend_error',
        'The lead scoring service ran into a problem (' + status + '). Try again; if it ' +
        'keeps happening, tell your admin.' + ref, extra);
  }
  return new ScoringError('http_' + status,
      'The lead scoring service refused the request (' + status + ').' + because + ref, extra);
}

/**
 * The error for a 200 answer that is not what the API promises (e.g. a login page).
 *
 * @param {{backendUrl: string}} settings the stored settings.
 * @return {!ScoringError} the error to show.
 */
function unexpectedAnswer_(settings) {
  return new ScoringError('bad_response',
      'The server at ' + backendHost_(settings) + ' answered, but not like the lead scoring ' +
      'service. Check the backend URL in Settings.');
}

/**
 * Reads a problem+json (or JSON) error body.
 *
 * @param {!Object} response an HTTPResponse.
 * @return {?{type: string, title: string, status: number, detail: string,
 *     request_id: (string|undefined)}} the problem, or null when the body is not one.
 */
function parseProblem_(response) {
  const type = headerValue_(response, 'Content-Type').toLowerCase();
  if (type.indexOf('json') < 0) {
    return null;
  }
  const body = parseJson_(response.getContentText());
  if (!body || typeof body !== 'object' || (body.title === undefined && body.detail === undefined)) {
    return null;
  }
  return body;
}

/**
 * Looks up a response header whatever its capitalisation.
 *
 * @param {!Object} response an HTTPResponse.
 * @param {string} name the header name.
 * @return {string} its value, or "".
 */
function headerValue_(response, name) {
  const headers = response.getHeaders() || {};
  const wanted = name.toLowerCase();
  const key = Object.keys(headers).find((k) => k.toLowerCase() === wanted);
  return key === undefined ? '' : String(headers[key]);
}

/**
 * Parses JSON without throwing.
 *
 * @param {string} text the body.
 * @return {*} the value, or null when the text is not JSON.
 */
function parseJson_(text) {
  try {
    return JSON.parse(text);
  } catch (err) {
    return null;
  }
}

/**
 * The backend's host name, for messages.
 *
 * @param {{backendUrl: string}} settings the stored settings.
 * @return {string} e.g. "leadscore.example.com".
 */
function backendHost_(settings) {
  const match = /^https?:\/\/([^/]+)/i.exec(settings.backendUrl || '');
  return match ? match[1] : 'the backend URL';
}

/**
 * Makes a backend detail read as a sentence.
 *
 * @param {string} text e.g. "column 'MRR' has text in row 7".
 * @return {string} "Column 'MRR' has text in row 7."
 */
function sentence_(text) {
  const trimmed = text.trim();
  const capital = trimmed.charAt(0).toUpperCase() + trimmed.slice(1);
  return /[.!?]$/.test(capital) ? capital : capital + '.';
}
