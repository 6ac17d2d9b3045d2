// Markup from templates with every interpolated value escaped: the page renders names and
// addresses from partner data, so nothing reaches innerHTML unescaped unless it is marked safe.

export class SafeHtml {
  constructor(text) { this.text = text; }
  toString() { return this.text; }
}

const ESCAPES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;", "`": "&#96;" };

export function escape(value) {
  return String(value).replace(/[&<>"'`]/g, (c) => ESCAPES[c]);
}

function part(value) {
  if (value === null || value === undefined || value === false) return "";
  if (value instanceof SafeHtml) return value.text;
  if (Array.isArray(value)) return value.map(part).join("");
  return escape(value);
}

/** html`<p>${name}</p>`: a SafeHtml whose interpolations are escaped (arrays joined, null dropped). */
export function html(strings, ...values) {
  let out = strings[0];
  values.forEach((value, i) => { out += part(value) + strings[i + 1]; });
  return new SafeHtml(out);
}
