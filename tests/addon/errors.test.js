'use strict';
/** Every way a backend call fails, in the words a sales rep reads. */
const test = require('node:test');
const assert = require('node:assert/strict');

const { loadAddon } = require('./helpers/loader');
const { BACKEND_URL, leadRows, problem } = require('./helpers/backend');
const { assertMatches } = require('./helpers/schema');

/**
 * Scores two selected rows against a backend that answers `answer` (or throws it).
 * @return {Error} what scoreSelectedRows threw.
 */
function failure(answer) {
  const addon = loadAddon({
    sheets: [{ values: leadRows(3) }],
    responder: () => {
      if (answer instanceof Error) throw answer;
      return answer;
    },
    settings: { backendUrl: BACKEND_URL },
  });
  addon.sheet.select('A2:A3');
  const err = addon.error('scoreSelectedRows');
  assert.equal(addon.locks.held, false, 'the lock is released');
  return err;
}

const CASES = [
  {
    name: '400 bad input: the backend’s detail is shown',
    answer: problem(400, "column 'Monthly Ad Spend' has text in row 7: write a number like 1200"),
    code: 'bad_data',
    message: /^The lead scoring service could not use this data\. Column 'Monthly Ad Spend' has text in row 7: write a number like 1200\.$/,
  },
  {
    name: '422 unusable data: the backend’s detail is shown',
    answer: problem(422, 'None of the model\'s columns (Lead Source, Industry) are in the header.'),
    code: 'bad_data',
    message: /could not use this data\. None of the model's columns \(Lead Source, Industry\) are in the header\./,
  },
  {
    name: '401 not signed in: the backend’s reason is shown',
    answer: problem(401, "The X-API-Key sent is not one of this server's keys. Check the key in the add-on's settings."),
    code: 'not_authorized',
    message: /^The lead scoring service did not accept your sign-in\. The X-API-Key sent is not one of this server's keys\. .* \(Reference: req-1234\.\)$/,
  },
  {
    name: '401 without a reason: what to check',
    answer: { status: 401, headers: { 'Content-Type': 'application/problem+json', 'X-Request-ID': 'req-77' }, body: { type: 'about:blank', title: 'Not signed in', status: 401 } },
    code: 'not_authorized',
    message: /did not accept your sign-in\. If your team uses an API key, check it in Settings; otherwise ask your admin to allow this add-on\. \(Reference: req-77\.\)/,
  },
  {
    name: '403 not allowed',
    answer: problem(403, 'The Google account rep@example.org is not allowed to use this server. Ask its admin to add your domain.'),
    code: 'forbidden',
    message: /^You are not allowed to use the lead scoring service\. The Google account rep@example\.org is not allowed/,
  },
  {
    name: '403 without a reason',
    answer: { status: 403, headers: { 'Content-Type': 'application/problem+json' }, body: { type: 'about:blank', title: 'Not allowed', status: 403 } },
    code: 'forbidden',
    message: /^You are not allowed to use the lead scoring service\. Ask your admin to give your Google account \(or your team's domain\) access\.$/,
  },
  {
    name: '413 too many rows',
    answer: problem(413, 'At most 2000 rows per request; got 2500.'),
    code: 'too_many_rows',
    message: /^Too many rows in one go\. Select fewer rows, or lower "Rows per request" in Settings\. At most 2000 rows/,
  },
  {
    name: '502 Sheets write failed',
    answer: problem(502, 'Google Sheets answered 503 three times.'),
    code: 'sheets_write_failed',
    message: /scored, but Google Sheets did not accept the new scores, so these rows were not changed\. Try again in a minute\. Google Sheets answered 503/,
  },
  {
    name: '503 no model',
    answer: problem(503, 'No model bundle in models/'),
    code: 'no_model',
    message: /^No scoring model is available yet\. Ask your admin to train or install one/,
  },
  {
    name: 'network failure: backend down or unreachable',
    answer: new Error('Exception: Address unavailable: https://leadscore.example.com/v1/sheets/score'),
    code: 'unreachable',
    message: /^Can't reach the lead scoring service at leadscore\.example\.com\. It may be down, or the backend URL in Settings may be wrong/,
  },
  {
    name: 'a proxy’s 502 page (no problem+json): the service is down, not Sheets',
    answer: { status: 502, headers: { 'Content-Type': 'text/html' }, body: '<html>Bad Gateway</html>' },
    code: 'backend_down',
    message: /is down or restarting \(it answered 502\)/,
  },
  {
    name: 'a 500 from the service',
    answer: problem(500, 'Internal error'),
    code: 'backend_error',
    message: /ran into a problem \(500\)\. Try again; if it keeps happening, tell your admin\. \(Reference: req-1234\.\)/,
  },
  {
    name: '404: the URL points somewhere else',
    answer: { status: 404, headers: { 'Content-Type': 'text/html' }, body: 'Not Found' },
    code: 'wrong_url',
    message: /does not point to the lead scoring service/,
  },
  {
    name: '200 that is not the API (a login page)',
    answer: { status: 200, headers: { 'Content-Type': 'text/html' }, body: '<html>Sign in</html>' },
    code: 'bad_response',
    message: /answered, but not like the lead scoring service/,
  },
  {
    name: 'the URL is not in the manifest allowlist',
    answer: new Error('Exception: UrlFetch calls to https://leadscore.example.com are not allowed by urlFetchWhitelist'),
    code: 'url_not_allowed',
    message: /Ask your admin to add the backend URL to urlFetchWhitelist/,
  },
];

for (const c of CASES) {
  test(c.name, () => {
    const err = failure(c.answer);
    assert.equal(err.code, c.code);
    assert.match(err.message, c.message);
    if (c.answer.body && typeof c.answer.body === 'object' && c.answer.body.detail) {
      assertMatches('Problem', c.answer.body);
    }
    if (c.answer.status && c.answer.status !== 200) assert.equal(err.status, c.answer.status);
    assert.doesNotMatch(err.message, /undefined|null|\[object/);
  });
}

test('no backend URL yet: the rep is sent to Settings, nothing is fetched', () => {
  const addon = loadAddon({ sheets: [{ values: leadRows(2) }] });
  addon.sheet.select('A2');
  assert.match(addon.error('scoreSelectedRows').message, /^Set the backend URL in Lead Scoring ▸ Settings first/);
  assert.equal(addon.fetch.requests.length, 0);
});

test('/healthz failures are explained the same way', () => {
  const addon = loadAddon({
    sheets: [{ values: leadRows(2) }],
    responder: () => problem(401, 'missing token'),
    settings: { backendUrl: BACKEND_URL },
  });
  assert.match(addon.error('scoreUnscoredRows').message, /did not accept your sign-in/);
});
