'use strict';
/**
 * Renders an Apps Script HTML template the way HtmlService does for the scriptlets the
 * add-on uses: `<?!= expr ?>` prints unescaped (the partials), `<?= expr ?>` prints
 * HTML-escaped. Other scriptlets fail loudly rather than render wrong.
 */

/** Escapes text for HTML, as a printing scriptlet does. */
function escapeHtml(value) {
  return String(value === undefined || value === null ? '' : value)
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

/**
 * @param {string} text the template source.
 * @param {function(string): *} evaluate evaluates one scriptlet expression.
 * @return {string} the HTML.
 */
function renderTemplate(text, evaluate) {
  return text.replace(/<\?(!=|=)?([\s\S]*?)\?>/g, (match, kind, code) => {
    if (!kind) {
      throw new Error('Non-printing scriptlets are not supported by the test renderer: ' + match);
    }
    const expr = code.trim().replace(/;\s*$/, '');
    const value = evaluate(expr);
    return kind === '!=' ? String(value === undefined || value === null ? '' : value) : escapeHtml(value);
  });
}

module.exports = { escapeHtml, renderTemplate };
