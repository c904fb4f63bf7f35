/**
 * @fileoverview The words the add-on shows that more than one file uses, in one place so
 * they stay consistent. Messages built from a backend answer are in Api.gs.
 */

/** What users read when a run cannot start. */
const MESSAGES = Object.freeze({
  noModel: 'No scoring model is available yet. Ask your admin to train or install one, ' +
      'then try again.',
  busy: 'Scoring is already running in this spreadsheet (started by someone else or by ' +
      'auto-rescore). Try again in a minute.',
});

/** Why the add-on itself left a row out; the backend gives its own reasons. */
const SKIP_REASONS = Object.freeze({
  FILTERED: 'Hidden by a filter',
  HIDDEN: 'Hidden row',
  EMPTY: 'Empty row',
});
