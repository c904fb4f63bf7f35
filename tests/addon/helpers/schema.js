'use strict';
/**
 * Validators for the backend's contract, straight from backend/openapi.json (OpenAPI 3.1,
 * JSON Schema 2020-12). The whole document is added to Ajv under an $id, so its
 * `#/components/schemas/...` references resolve as they are written.
 */
const fs = require('node:fs');
const path = require('node:path');
const Ajv2020 = require('ajv/dist/2020');

const { ROOT } = require('./loader');

const OPENAPI_ID = 'https://leadscore.dev/openapi.json';
const openapi = JSON.parse(fs.readFileSync(path.join(ROOT, 'backend', 'openapi.json'), 'utf8'));

// strict: false because the document carries OpenAPI keywords (paths, info…) that are not
// JSON Schema keywords; the schemas under components are plain 2020-12.
const ajv = new Ajv2020({ strict: false, allErrors: true });
ajv.addSchema(Object.assign({}, openapi, { $id: OPENAPI_ID }));

/**
 * The validator of one component schema.
 * @param {string} name e.g. "SheetScoreRequest".
 * @return {Function} an Ajv validate function.
 */
function validator(name) {
  const validate = ajv.getSchema(`${OPENAPI_ID}#/components/schemas/${name}`);
  if (!validate) throw new Error(`No schema ${name} in backend/openapi.json`);
  return validate;
}

/**
 * Throws with Ajv's errors when a value does not match a component schema.
 * @param {string} name the schema.
 * @param {*} value the value.
 */
function assertMatches(name, value) {
  const validate = validator(name);
  if (!validate(value)) {
    throw new Error(`${name} does not match backend/openapi.json: ${ajv.errorsText(validate.errors)}`);
  }
}

module.exports = { openapi, validator, assertMatches };
