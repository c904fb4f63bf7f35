'use strict';
/**
 * A scripted stand-in for the scoring backend (answers shaped like backend/openapi.json),
 * and sheets of leads to score.
 */

const BACKEND_URL = 'https://leadscore.example.com';
const MODEL = Object.freeze({ name: 'leadscore', version: '2024.11.1' });
const HEADER = Object.freeze(['Company', 'Email', 'Lead Source', 'Monthly Ad Spend', 'Created', 'Status']);
// The output headers of a model's run, as the contract names them (backend/openapi.json, OutputColumn).
const OUTPUT_HEADERS = Object.freeze(JSON.parse(require('node:fs').readFileSync(
  require('node:path').resolve(__dirname, '..', '..', '..', 'backend', 'openapi.json'), 'utf8'))
  .components.schemas.OutputColumn.enum
  .filter((header) => header !== 'Rule Points')); // written only with a points rulebook
const SOURCES = ['Referral', 'Web', 'Event', 'Outbound'];

/**
 * A sheet's values: the header and `count` leads (row 2 onwards).
 * @param {number} count leads.
 * @return {Array<Array<*>>} values as getValues() would give them.
 */
function leadRows(count) {
  const values = [HEADER.slice()];
  for (let i = 0; i < count; i++) {
    values.push([
      `Company ${i + 2}`,
      `lead${i + 2}@example.com`,
      SOURCES[i % SOURCES.length],
      1000 + 37 * i,
      new Date(Date.UTC(2024, 0, 1 + (i % 28))),
      i % 3 === 0 ? 'Open' : '',
    ]);
  }
  return values;
}

/** A deterministic score for a row: spread over 1..10. */
function scoreFor(row) {
  return ((row * 7) % 10) + 1;
}

/**
 * A problem+json answer.
 * @param {number} status the HTTP status.
 * @param {string} detail the detail sentence.
 * @param {Object=} extra more problem fields.
 * @return {{status: number, headers: Object, body: Object}} the answer.
 */
function problem(status, detail, extra = {}) {
  const titles = {
    400: 'Bad input', 401: 'Not signed in', 403: 'Not allowed', 413: 'Request too large',
    422: 'No usable columns', 502: 'Google Sheets did not accept the write', 503: 'No model available',
  };
  return {
    status,
    headers: { 'Content-Type': 'application/problem+json' },
    body: Object.assign({
      type: `https://leadscore.dev/problems/${status}`,
      title: titles[status] || 'Error',
      status,
      detail,
      request_id: 'req-1234',
    }, extra),
  };
}

/**
 * A backend that is up and scores every row it gets.
 * @param {{model: (Object|undefined), skip: (function(number): ?string|undefined),
 *     unscorable: (function(number): boolean|undefined), onScore: (Function|undefined)}=}
 *     options `skip(row)` returns a skip reason for rows it refuses to write;
 *     `unscorable(row)` marks rows written without a score.
 * @return {function(Object): Object} a responder for FakeUrlFetchApp.
 */
function scoringBackend(options = {}) {
  const model = options.model === undefined ? MODEL : options.model;
  return (request) => {
    if (request.url.endsWith('/healthz')) {
      return { status: 200, body: { status: model ? 'ok' : 'degraded', model } };
    }
    if (request.url.endsWith('/v1/sheets/score') && request.method === 'post') {
      if (options.onScore) options.onScore(request);
      return { status: 200, body: sheetScoreAnswer(request.body, model, options) };
    }
    return problem(404, 'Not found');
  };
}

/**
 * The answer to one SheetScoreRequest.
 * @param {Object} body the request body.
 * @param {Object} model the model reference.
 * @param {Object} options as for scoringBackend.
 * @return {Object} a SheetScoreResponse.
 */
function sheetScoreAnswer(body, model, options = {}) {
  const written = [];
  const skipped = [];
  const results = [];
  body.rows.forEach(({ row }) => {
    const reason = options.skip ? options.skip(row) : null;
    if (reason) {
      skipped.push({ row, reason });
      return;
    }
    written.push(row);
    if (options.unscorable && options.unscorable(row)) {
      results.push({ row, lead_score: null, close_probability: null, predicted_mrr: null, segment: null, reasons: [] });
      return;
    }
    const score = scoreFor(row);
    results.push({
      row,
      lead_score: score,
      close_probability: Math.round(score * 9.3) / 100,
      predicted_mrr: 400 + score * 120,
      segment: score >= 7 ? 'High-value referral' : 'Self-serve',
      reasons: ['Lead Source = Referral ↑'],
    });
  });
  return {
    model,
    written,
    skipped,
    results,
    columns: { 'Lead Score': 'G' },
    warnings: [{ code: 'unknown_columns', message: 'Column "Status" is not used by the model.', columns: ['Status'] }],
  };
}

module.exports = {
  BACKEND_URL,
  MODEL,
  HEADER,
  OUTPUT_HEADERS,
  leadRows,
  scoreFor,
  problem,
  scoringBackend,
  sheetScoreAnswer,
};
