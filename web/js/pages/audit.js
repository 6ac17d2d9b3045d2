// The audit (org-admins: their organisation; auditors: every organisation), in words: who did what,
// under which legal gateway, whom it concerned and what they saw. Filters live in the address
// (#/audit?user=…&organisation=…&action=…&period=…) so the back button and a shared link give the
// same view; the filtered audit can be exported as CSV. Reading and exporting the audit are audited.
// Auditors also get "Unusual use" (#/unusual-use): the saved queries, run on a chosen period.
import { api, ApiError } from "../api.js";
import { html } from "../html.js";
import { organisations } from "../organisations.js";
import { inGroup } from "../session.js";
import { renderer, errorSummary, textInput, radios, dateInput, button, formValues, dateTime, backLink } from "../ui.js";

const PERIODS = [
  { value: "day", text: "Last 24 hours" },
  { value: "week", text: "Last 7 days" },
  { value: "month", text: "Last month" },
  { value: "range", text: "Between two dates" },
];

function isoDate(prefix, v, errors, label) {
  const [d, m, y] = [v[`${prefix}-day`], v[`${prefix}-month`], v[`${prefix}-year`]];
  if (!d && !m && !y) return null;
  const date = new Date(Date.UTC(Number(y), Number(m) - 1, Number(d)));
  if (!/^\d{1,2}$/.test(d || "") || !/^\d{1,2}$/.test(m || "") || !/^\d{4}$/.test(y || "") || date.getUTCDate() !== Number(d) || date.getUTCMonth() !== Number(m) - 1) {
    errors.push({ field: `${prefix}-day`, fields: [prefix], text: `${label} must be a real date, like 27 3 2026` });
    return null;
  }
  return `${y}-${String(m).padStart(2, "0")}-${String(d).padStart(2, "0")}`;
}

function splitDate(value) {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(value || "");
  return m ? { year: m[1], month: String(Number(m[2])), day: String(Number(m[3])) } : {};
}

function select({ id, label, hint, items, value, errors = [] }) {
  const error = errors.find((e) => e.field === id);
  const describedBy = [hint ? `${id}-hint` : "", error ? `${id}-error` : ""].filter(Boolean).join(" ");
  return html`<div class="govuk-form-group${error ? " govuk-form-group--error" : ""}">
    <label class="govuk-label govuk-label--s" for="${id}">${label}</label>
    ${hint ? html`<div id="${id}-hint" class="govuk-hint">${hint}</div>` : ""}
    ${error ? html`<p id="${id}-error" class="govuk-error-message"><span class="govuk-visually-hidden">Error:</span> ${error.text}</p>` : ""}
    <select class="govuk-select${error ? " govuk-select--error" : ""}" id="${id}" name="${id}"${describedBy ? html` aria-describedby="${describedBy}"` : ""}>
      ${items.map((item) => html`<option value="${item.value}"${item.value === value ? html` selected` : ""}>${item.text}</option>`)}
    </select>
  </div>`;
}

/** The filters as the API and the address take them. */
function apiQuery(filters, auditor) {
  return {
    user: filters.user, organisation: auditor ? filters.organisation : undefined, action: filters.action,
    period: filters.period === "range" ? undefined : filters.period,
    from: filters.period === "range" ? filters.from : undefined, to: filters.period === "range" ? filters.to : undefined,
  };
}

function download(text, name, type = "text/csv") {
  const link = document.createElement("a");
  link.href = URL.createObjectURL(new Blob([text], { type: `${type};charset=utf-8` }));
  link.download = name;
  document.body.appendChild(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
}

export async function auditPage({ query, user, navigate }) {
  const render = renderer();
  const filters = {
    user: query.get("user") || "", organisation: query.get("organisation") || "", action: query.get("action") || "",
    period: query.get("from") || query.get("to") ? "range" : query.get("period") || "week",
    from: query.get("from") || "", to: query.get("to") || "", next: query.get("next") || "",
  };
  const auditor = inGroup(user, "auditors");
  const orgs = auditor ? await organisations() : [];
  let page = null;
  let failure = null;
  try {
    page = await api("GET", "/audit", { query: { ...apiQuery(filters, auditor), next: filters.next } });
  } catch (error) {
    if (!(error instanceof ApiError)) throw error;
    failure = error.status === 503 ? "The audit cannot be read just now. Try again in a few minutes." : error.message;
  }
  const actionNames = (page && page.action_names) || {};
  const show = (errors = [], values = null, notice = "") => {
    const v = values || {
      user: filters.user, organisation: filters.organisation, action: filters.action, period: filters.period,
      ...Object.fromEntries(Object.entries(splitDate(filters.from)).map(([k, x]) => [`from-${k}`, x])),
      ...Object.fromEntries(Object.entries(splitDate(filters.to)).map(([k, x]) => [`to-${k}`, x])),
    };
    const allErrors = failure && !errors.length ? [{ field: auditor ? "organisation" : "user", text: failure }] : errors;
    const range = html`${dateInput({ id: "from", legend: "From", hint: "For example, 1 11 2026", errors, value: { day: v["from-day"], month: v["from-month"], year: v["from-year"] } })}
      ${dateInput({ id: "to", legend: "To", hint: "For example, 30 11 2026", errors, value: { day: v["to-day"], month: v["to-month"], year: v["to-year"] } })}`;
    const orgItems = [{ value: "", text: "Every organisation" }, ...orgs.map((o) => ({ value: o.name, text: o.name }))];
    const actionItems = [{ value: "", text: "Every action" }, ...Object.entries(actionNames).map(([id, name]) => ({ value: id, text: name }))];
    const main = render("Audit", html`
      ${errorSummary(allErrors)}
      ${notice ? html`<div class="govuk-inset-text" id="export-notice">${notice}</div>` : ""}
      <h1 class="govuk-heading-l">Audit</h1>
      <p class="govuk-body">${auditor ? "Every organisation's searches, people opened, decisions and administration" : "Your organisation's searches, people opened, decisions and administration"}, newest first.</p>
      ${inGroup(user, "org-admins") ? html`<p class="govuk-body"><a class="govuk-link" href="#/accesses">Who looked at our records</a>: people outside your organisation who opened people whose records your organisation supplied.</p>` : ""}
      ${auditor ? html`<p class="govuk-body"><a class="govuk-link" href="#/subject-access">Subject access</a>: every record MAST holds about a person and who saw them, as a file.</p>` : ""}
      ${auditor ? html`<p class="govuk-body"><a class="govuk-link" href="#/unusual-use">Look for unusual use</a>: searches out of hours, unusually many searches, sensitive records, who opened a record.</p>` : ""}
      <form novalidate id="audit-filter">
        ${textInput({ id: "user", label: "User", hint: "Their email address. Leave empty for everyone.", value: v.user, errors, spellcheck: false, classes: "govuk-!-width-one-half", labelClass: "govuk-label govuk-label--s" })}
        ${auditor ? select({ id: "organisation", label: "Organisation", items: orgItems.some((o) => o.value === v.organisation) ? orgItems : [...orgItems, { value: v.organisation, text: v.organisation }], value: v.organisation, errors }) : ""}
        ${Object.keys(actionNames).length ? select({ id: "action", label: "Action", items: actionItems, value: v.action, errors }) : ""}
        ${radios({ id: "period", legend: "Period", legendClass: "govuk-fieldset__legend--s", errors, value: v.period,
          items: PERIODS.map((p) => ({ ...p, conditional: p.value === "range" ? range : null })) })}
        <div class="govuk-button-group">
          ${button("Show the audit", { secondary: true })}
          ${page ? button("Export these events (CSV)", { secondary: true, type: "button", id: "audit-export" }) : ""}
        </div>
      </form>
      ${page ? html`
        <table class="govuk-table" id="audit-events">
          <caption class="govuk-table__caption govuk-table__caption--m">${page.events.length ? `${page.events.length} events${page.next ? " on this page" : ""}${page.organisation_name ? ` in ${page.organisation_name}` : ""}` : `No events in this period${page.organisation_name ? ` in ${page.organisation_name}` : ""}`}</caption>
          <thead class="govuk-table__head"><tr class="govuk-table__row">
            <th scope="col" class="govuk-table__header">When</th>
            <th scope="col" class="govuk-table__header">User</th>
            <th scope="col" class="govuk-table__header">Action</th>
            <th scope="col" class="govuk-table__header">Legal gateway and purpose</th>
            <th scope="col" class="govuk-table__header">Concerned</th>
            <th scope="col" class="govuk-table__header">What they saw</th>
          </tr></thead>
          <tbody class="govuk-table__body">
            ${page.events.map((e) => html`<tr class="govuk-table__row">
              <td class="govuk-table__cell">${dateTime(e.event_time)}</td>
              <td class="govuk-table__cell">${e.username}${auditor ? html`<br><span class="govuk-body-s">${e.organisation_name}</span>` : ""}</td>
              <td class="govuk-table__cell">${e.action_name}</td>
              <td class="govuk-table__cell">${e.gateway_name ? html`${e.gateway_name}<br>` : ""}${e.purpose || ""}</td>
              <td class="govuk-table__cell">${e.concerned}</td>
              <td class="govuk-table__cell">${e.saw}${e.sensitive_returned ? html`<br><strong class="govuk-tag govuk-tag--red">Sensitive</strong>` : ""}</td>
            </tr>`)}
          </tbody>
        </table>
        ${page.next ? html`<nav class="govuk-pagination govuk-pagination--block" aria-label="Pagination">
          <div class="govuk-pagination__next"><a class="govuk-link govuk-pagination__link" href="#/audit?${new URLSearchParams({ ...Object.fromEntries(Object.entries({ user: filters.user, organisation: filters.organisation, action: filters.action, period: filters.period === "range" ? "" : filters.period, from: filters.from, to: filters.to }).filter(([, x]) => x)), next: page.next })}" rel="next">
            <span class="govuk-pagination__link-title">Next page</span></a></div></nav>` : ""}` : ""}`, { errors: allErrors });
    const exportButton = main.querySelector("#audit-export");
    if (exportButton) exportButton.addEventListener("click", async () => {
      try {
        const { text, headers } = await api("GET", "/audit/export", { query: apiQuery(filters, auditor), accept: "text/csv" });
        const name = /filename="([^"]+)"/.exec(headers.get("Content-Disposition") || "");
        download(text, name ? name[1] : "mast-audit.csv");
        const count = Number(headers.get("X-MAST-Events") || 0);
        show([], v, `Exported ${count} events as CSV${headers.get("X-MAST-Complete") === "false" ? " (the first of more: choose a shorter period)" : ""}. The export is recorded in the audit.`);
      } catch (error) {
        if (!(error instanceof ApiError)) throw error;
        show([{ field: "audit-export", text: error.message }], v);
      }
    });
    main.querySelector("#audit-filter").addEventListener("submit", (event) => {
      event.preventDefault();
      const f = formValues(event.target);
      const problems = [];
      const next = { user: f.user || "" };
      if (auditor && f.organisation) next.organisation = f.organisation;
      if (f.action) next.action = f.action;
      if (f.user && f.user.length > 320) problems.push({ field: "user", text: "The user must be 320 characters or fewer" });
      if ((f.period || "week") === "range") {
        const from = isoDate("from", f, problems, "From");
        const to = isoDate("to", f, problems, "To");
        if (!from && !to && !problems.length) problems.push({ field: "from-day", fields: ["from"], text: "Enter the first day, the last day, or both" });
        if (from && to && to < from) problems.push({ field: "to-day", fields: ["to"], text: "To must be the same as or after From" });
        if (from) next.from = from;
        if (to) next.to = to;
      } else {
        next.period = f.period || "week";
      }
      if (problems.length) { show(problems, f); return; }
      navigate(`audit?${new URLSearchParams(Object.entries(next).filter(([, x]) => x))}`);
    });
  };
  show();
}

function isoDay(date) { return date.toISOString().slice(0, 10); }

/** Unusual use (auditors): each saved query with its results for the chosen period. */
export async function unusualUsePage({ query, navigate }) {
  const render = renderer();
  const today = new Date();
  const chosen = {
    name: query.get("query") || "", from: query.get("from") || isoDay(new Date(today.getTime() - 30 * 86400_000)),
    to: query.get("to") || isoDay(today), record: query.get("record_id") || "",
  };
  const { queries } = await api("GET", "/audit/queries");
  let result = null;
  let failure = null;
  if (chosen.name) {
    try {
      result = await api("GET", `/audit/queries/${encodeURIComponent(chosen.name)}`, { query: { from: chosen.from, to: chosen.to, record_id: chosen.record || undefined } });
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      failure = error.status === 503 ? "The audit cannot be read just now. Try again in a few minutes." : error.message;
    }
  }
  const show = (errors = [], values = null) => {
    const v = values || {
      query: chosen.name || (queries[0] && queries[0].name), record_id: chosen.record,
      ...Object.fromEntries(Object.entries(splitDate(chosen.from)).map(([k, x]) => [`from-${k}`, x])),
      ...Object.fromEntries(Object.entries(splitDate(chosen.to)).map(([k, x]) => [`to-${k}`, x])),
    };
    const allErrors = failure && !errors.length ? [{ field: "query", text: failure }] : errors;
    const main = render("Unusual use", html`
      ${backLink("#/audit", "Back to the audit")}
      ${errorSummary(allErrors)}
      <h1 class="govuk-heading-l">Unusual use</h1>
      <p class="govuk-body">The auditors' saved queries, the same ones Athena runs over the whole audit, run here over the audit of the last 13 months.</p>
      <form novalidate id="query-form">
        ${radios({ id: "query", legend: "Query", legendClass: "govuk-fieldset__legend--s", errors, value: v.query,
          items: queries.map((q) => ({ value: q.name, text: q.description.replace(/\s*Parameters:.*$/, ""),
            conditional: q.parameters.includes("record_id") ? textInput({ id: "record_id", label: "Record id", hint: "As the audit shows it, for example wm-police:A123", value: v.record_id, errors, spellcheck: false, classes: "govuk-!-width-one-half" }) : null })) })}
        ${dateInput({ id: "from", legend: "From", hint: "For example, 1 11 2026", errors, value: { day: v["from-day"], month: v["from-month"], year: v["from-year"] } })}
        ${dateInput({ id: "to", legend: "To", hint: "For example, 30 11 2026", errors, value: { day: v["to-day"], month: v["to-month"], year: v["to-year"] } })}
        ${button("Run the query")}
      </form>
      ${result ? html`<table class="govuk-table" id="query-results">
          <caption class="govuk-table__caption govuk-table__caption--m">${result.rows.length ? `${result.rows.length} ${result.rows.length === 1 ? "row" : "rows"}` : "Nothing found"}: ${result.description.replace(/\s*Parameters:.*$/, "")}</caption>
          <thead class="govuk-table__head"><tr class="govuk-table__row">
            ${result.columns.map((c) => html`<th scope="col" class="govuk-table__header">${c.replaceAll("_", " ")}</th>`)}
          </tr></thead>
          <tbody class="govuk-table__body">
            ${result.rows.map((row) => html`<tr class="govuk-table__row">${row.map((cell, i) => html`<td class="govuk-table__cell">${/time$/.test(result.columns[i]) ? dateTime(cell) : cell ?? ""}</td>`)}</tr>`)}
          </tbody>
        </table>
        <p class="govuk-body-s">${result.events_read} events read${result.complete ? "" : " (the period holds more: choose a shorter one)"}.</p>` : ""}`, { errors: allErrors });
    main.querySelector("#query-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const f = formValues(event.target);
      const problems = [];
      const from = isoDate("from", f, problems, "From");
      const to = isoDate("to", f, problems, "To");
      if (!f.query) problems.push({ field: "query", text: "Choose a query" });
      if (!problems.length && (!from || !to)) problems.push({ field: from ? "to-day" : "from-day", fields: [from ? "to" : "from"], text: "Enter the first and the last day" });
      if (from && to && to < from) problems.push({ field: "to-day", fields: ["to"], text: "To must be the same as or after From" });
      const wanted = queries.find((q) => q.name === f.query);
      if (wanted && wanted.parameters.includes("record_id") && !f.record_id) problems.push({ field: "record_id", text: "Enter the record id" });
      if (problems.length) { show(problems, f); return; }
      const next = { query: f.query, from, to };
      if (wanted && wanted.parameters.includes("record_id")) next.record_id = f.record_id;
      navigate(`unusual-use?${new URLSearchParams(next)}`);
    });
  };
  show();
}

const LOOKED = { "open-person": "Opened a person", "print-person": "Printed a person's summary", "alert-open": "Opened a person from an alert" };

/** Who outside the organisation opened (or printed) people whose records it supplied: the latest 25. */
export async function accessesPage() {
  const render = renderer();
  let answer;
  try {
    answer = await api("GET", "/audit/accesses");
  } catch (error) {
    if (!(error instanceof ApiError)) throw error;
    render("Who looked at our records", html`${backLink("#/audit", "Back to the audit")}
      <h1 class="govuk-heading-l">Who looked at our records</h1>
      <p class="govuk-body">${error.status === 503 ? "MAST records every look at the audit first, and the record could not be written. Try again in a few minutes." : error.message}</p>`);
    return;
  }
  const { accesses } = answer;
  render("Who looked at our records", html`${backLink("#/audit", "Back to the audit")}
    <h1 class="govuk-heading-l">Who looked at our records</h1>
    <p class="govuk-body">People in other organisations who opened or printed a person whose records your organisation supplied, with the legal gateway and purpose they declared. The latest ${accesses.length === 25 ? "25" : accesses.length}, newest first.</p>
    ${accesses.length ? html`<table class="govuk-table mast-wrap" id="accesses">
      <caption class="govuk-table__caption govuk-table__caption--m">Looks at your records</caption>
      <thead class="govuk-table__head"><tr class="govuk-table__row">
        <th scope="col" class="govuk-table__header">When</th><th scope="col" class="govuk-table__header">Who</th>
        <th scope="col" class="govuk-table__header">What</th><th scope="col" class="govuk-table__header">Gateway and purpose</th>
        <th scope="col" class="govuk-table__header">Your records</th></tr></thead>
      <tbody class="govuk-table__body">${accesses.map((a) => html`<tr class="govuk-table__row">
        <td class="govuk-table__cell" data-label="When">${dateTime(a.event_time)}</td>
        <td class="govuk-table__cell" data-label="Who">${a.username}, ${a.organisation_name}</td>
        <td class="govuk-table__cell" data-label="What">${LOOKED[a.action] || a.action}</td>
        <td class="govuk-table__cell" data-label="Gateway and purpose">${a.gateway_name || a.gateway || ""}${a.purpose ? html`: ${a.purpose}` : ""}</td>
        <td class="govuk-table__cell" data-label="Your records">${a.record_ids.join(", ")}</td></tr>`)}
      </tbody></table>` : html`<p class="govuk-body" id="accesses">No one outside your organisation has opened a person whose records it supplied.</p>`}`);
}

/** Subject access (UK GDPR Article 15): an auditor downloads every record held about a person and
 * every audited action that showed them, as CSV or JSON; the API audits it. The person is named by
 * record ids (a partner's reference) or, as a request names its writer, by their name, date of birth
 * and postcode: MAST's person search must then find exactly one person strongly. */
export async function subjectAccessPage() {
  const render = renderer();
  const today = new Date();
  const first = new Date(today.getTime() - 399 * 86400000);
  const pad = (n) => String(n).padStart(2, "0");
  const show = (errors = [], values = { record_ids: "" }, notice = null) => {
    const main = render("Subject access", html`${backLink("#/audit", "Back to the audit")}
      ${errorSummary(errors)}
      ${notice ? html`<div class="govuk-inset-text" id="subject-access-notice">${notice}</div>` : ""}
      <h1 class="govuk-heading-l">Subject access</h1>
      <p class="govuk-body">Every record MAST holds about a person, and every search, person view, print and alert of the last 400 days that showed their records, as a file to check before it is sent. Older audit is in Athena (the saved query <code>who-opened-record</code>). Producing the file is recorded in the audit.</p>
      <form novalidate id="subject-access">
        ${textInput({ id: "record-ids", name: "record_ids", label: "Record ids", labelClass: "govuk-label govuk-label--s", hint: "One or more of the person's record ids, separated by commas, for example wm-police:26WM0412345-N1", value: values.record_ids, errors, spellcheck: false })}
        <fieldset class="govuk-fieldset" id="requester">
          <legend class="govuk-fieldset__legend govuk-fieldset__legend--s">Or the requester's details, as the request gives them</legend>
          <div class="govuk-hint" id="requester-hint">MAST searches for the person as a practitioner's search does. The file is produced only when exactly one person matches strongly; for namesakes, the postcode of the requester's address tells them apart.</div>
          ${textInput({ id: "sar-given-name", name: "given_name", label: "Given name", value: values.given_name, errors, autocomplete: "off", spellcheck: false })}
          ${textInput({ id: "sar-family-name", name: "family_name", label: "Family name", value: values.family_name, errors, autocomplete: "off", spellcheck: false })}
          ${dateInput({ id: "sar-dob", legend: "Date of birth", hint: "For example, 7 3 1984", value: { day: values["sar-dob-day"], month: values["sar-dob-month"], year: values["sar-dob-year"] }, errors })}
          ${textInput({ id: "sar-postcode", name: "postcode", label: "Postcode of their address", value: values.postcode, errors, classes: "govuk-input--width-10", autocomplete: "off" })}
        </fieldset>
        <div class="govuk-button-group">
          <button type="submit" class="govuk-button" data-module="govuk-button" name="format" value="csv">Download CSV</button>
          <button type="submit" class="govuk-button govuk-button--secondary" data-module="govuk-button" name="format" value="json">Download JSON</button>
        </div>
      </form>`, { errors });
    main.querySelector("#subject-access").addEventListener("submit", async (event) => {
      event.preventDefault();
      const format = (event.submitter && event.submitter.value) || "csv";
      const f = formValues(event.target);
      const ids = (f.record_ids || "").split(",").map((x) => x.trim()).filter(Boolean);
      const [day, month, year] = ["day", "month", "year"].map((p) => f[`sar-dob-${p}`]);
      const details = [f.given_name, f.family_name, day, month, year, f.postcode].some(Boolean);
      if (ids.length && details) { show([{ field: "record-ids", text: "Name the person by record ids or by the requester's details, not both" }], f); return; }
      if (!ids.length && !details) { show([{ field: "record-ids", text: "Enter a record id of the person, or the requester's name and date of birth" }], f); return; }
      if (ids.length > 50) { show([{ field: "record-ids", text: "Enter 50 record ids or fewer" }], f); return; }
      const errors = [];
      if (details) {
        if (!f.given_name) errors.push({ field: "sar-given-name", text: "Enter the requester's given name" });
        if (!f.family_name) errors.push({ field: "sar-family-name", text: "Enter the requester's family name" });
        if (!/^\d{1,2}$/.test(day || "") || !/^\d{1,2}$/.test(month || "") || !/^\d{4}$/.test(year || "")) {
          errors.push({ field: "sar-dob", text: "Enter the requester's full date of birth, for example 7 3 1984" });
        }
        if (errors.length) { show(errors, f); return; }
      }
      const named = ids.length ? { record_ids: ids.join(",") }
        : { given_name: f.given_name, family_name: f.family_name, dob: `${year}-${pad(month)}-${pad(day)}`, ...(f.postcode ? { postcode: f.postcode } : {}) };
      try {
        const { text, headers } = await api("GET", "/audit/subject-access", {
          query: { ...named, from: isoDay(first), to: isoDay(today), format },
          accept: format === "csv" ? "text/csv" : "application/json" });
        const name = /filename="([^"]+)"/.exec(headers.get("Content-Disposition") || "");
        download(text, name ? name[1] : `mast-subject-access.${format}`, format === "csv" ? "text/csv" : "application/json");
        show([], f, `Downloaded the ${format.toUpperCase()} file. Producing it is recorded in the audit.`);
      } catch (error) {
        if (!(error instanceof ApiError)) throw error;
        show([{ field: ids.length ? "record-ids" : "sar-given-name", text: error.message }], f);
      }
    });
  };
  show();
}
