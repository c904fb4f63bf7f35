#!/usr/bin/env node
'use strict';
/**
 * Runs the add-on's own training and scoring code (addon/*.gs in the test fakes) against
 * a real backend over HTTP: the Train panel's options, the chunked upload, the job's
 * progress, Promote when needed, the health card, then "Score selected rows".
 * Each UrlFetchApp call is made with curl, synchronously, as Apps Script makes it.
 *
 * stdin (JSON): {"backendUrl", "apiKey", "spreadsheet_id", "sheet", "header", "rows",
 *                "choice": {"target", "positive", "value"?}, "maxRows"}
 * stdout (JSON): {"options", "uploads", "job", "polls", "health", "summary", "requests"}
 */
const { execFileSync } = require('node:child_process');

const { loadAddon, plain } = require('./helpers/loader');
const { FakeSpreadsheet } = require('./helpers/fakes');

/** Sleeps without yielding (the add-on's code is synchronous, as in Apps Script). */
function sleep(ms) {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** Makes one request with curl; returns {status, headers, body}. */
function curl(request) {
  const args = ['-sS', '-X', request.method.toUpperCase(), '-o', '-', '-w', '\n%{http_code}\n%{content_type}'];
  Object.entries(request.headers || {}).forEach(([k, v]) => args.push('-H', `${k}: ${v}`));
  if (request.payload !== undefined) {
    args.push('-H', `Content-Type: ${request.contentType}`, '--data-binary', '@-');
  }
  args.push(request.url);
  const out = execFileSync('curl', args, { input: request.payload || '', maxBuffer: 64 * 1024 * 1024 }).toString('utf8');
  const lines = out.split('\n');
  const type = lines.pop();
  const status = Number(lines.pop());
  return { status, headers: { 'Content-Type': type }, body: lines.join('\n') };
}

function run(input) {
  const spreadsheet = new FakeSpreadsheet({
    id: input.spreadsheet_id, timeZone: 'UTC', sheets: [{ name: input.sheet, values: [input.header, ...input.rows] }],
  });
  const addon = loadAddon({
    spreadsheet, responder: curl,
    settings: { backendUrl: input.backendUrl, apiKey: input.apiKey, maxRows: input.maxRows },
  });
  const options = addon.call('getTrainOptions');
  let progress = addon.call('startTraining', input.choice);
  while (progress.state === 'uploading') {
    progress = addon.call('continueTraining', progress);
  }
  const polls = [];
  let job = progress.job;
  for (let i = 0; i < 600 && job.state !== 'succeeded' && job.state !== 'failed'; i++) {
    sleep(50);
    job = addon.call('getTrainingJob', job.job_id);
    polls.push({ state: job.state, stage: job.stage, percent: job.percent });
  }
  let promoted = null;
  if (job.state === 'succeeded' && !job.result.promoted) {
    promoted = addon.call('promoteModel', job.result.version, true);
  }
  const health = addon.call('getModelHealth');
  addon.sheet.select(`A2:${String.fromCharCode(64 + input.header.length)}${input.rows.length + 1}`);
  const summary = addon.call('scoreSelectedRows');
  return {
    options, job, polls, promoted, health, summary,
    uploads: addon.fetch.requests.filter((r) => /\/uploads\//.test(r.url)).map((r) => r.body.rows.length),
    requests: addon.fetch.requests.map((r) => `${r.method.toUpperCase()} ${r.url.slice(input.backendUrl.length)}`),
    score_bodies: addon.fetch.scoreRequests().map((r) => plain(r.body)),
  };
}

let text = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk) => { text += chunk; });
process.stdin.on('end', () => {
  try {
    process.stdout.write(`${JSON.stringify(run(JSON.parse(text)))}\n`);
  } catch (err) {
    process.stderr.write(`train_driver: ${err && err.stack ? err.stack : err}\n`);
    process.exitCode = 2;
  }
});
