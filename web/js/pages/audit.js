// The audit (org-admins: their organisation; auditors: every organisation): who searched whom,
// when, why, and how much came back. Filters live in the address (#/audit?user=…&period=…) so the
// browser's back button and a shared link give the same view. Reading the audit is audited too.
import { api, ApiError } from "../api.js";
import { html } from "../html.js";
import { inGroup } from "../session.js";
import { renderer, errorSummary, textInput, radios, dateInput, button, formValues, dateTime } from "../ui.js";

const PERIODS = [
  { value: "day", text: "Last 24 hours" },
  { value: "week", text: "Last 7 days" },
  { value: "month", text: "Last month" },
  { value: "range", text: "Between two dates" },
];

const ACTIONS = {
  search: "Search", "open-person": "Opened a person", "print-person": "Printed a person's summary", "link-decision": "Linkage decision", "audit-view": "Viewed the audit",
  refused: "Refused",
};

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

function terms(event) {
  if (!event.search_terms) return "";
  try {
    const q = JSON.parse(event.search_terms);
    const dob = q.dob ? [q.dob.day, q.dob.month, q.dob.year].filter(Boolean).join("/") : "";
    return [q.given_name, q.middle_name, q.family_name, dob && `born ${dob}`, q.address_line1, q.address_line2, q.postcode].filter(Boolean).join(", ");
  } catch {
    return event.search_terms;
  }
}

export async function auditPage({ query, user, navigate }) {
  const render = renderer();
  const filters = {
    user: query.get("user") || "", organisation: query.get("organisation") || "",
    period: query.get("from") || query.get("to") ? "range" : query.get("period") || "week",
    from: query.get("from") || "", to: query.get("to") || "", next: query.get("next") || "",
  };
  const auditor = inGroup(user, "auditors");
  let page = null;
  let failure = null;
  try {
    page = await api("GET", "/audit", { query: {
      user: filters.user, organisation: auditor ? filters.organisation : undefined,
      period: filters.period === "range" ? undefined : filters.period,
      from: filters.period === "range" ? filters.from : undefined, to: filters.period === "range" ? filters.to : undefined,
      next: filters.next,
    } });
  } catch (error) {
    if (!(error instanceof ApiError)) throw error;
    failure = error.status === 503 ? "The audit cannot be read just now. Try again in a few minutes." : error.message;
  }
  const show = (errors = [], values = null) => {
    const v = values || {
      user: filters.user, organisation: filters.organisation, period: filters.period,
      ...Object.fromEntries(Object.entries(splitDate(filters.from)).map(([k, x]) => [`from-${k}`, x])),
      ...Object.fromEntries(Object.entries(splitDate(filters.to)).map(([k, x]) => [`to-${k}`, x])),
    };
    const allErrors = failure && !errors.length ? [{ field: "user", text: failure }] : errors;
    const range = html`${dateInput({ id: "from", legend: "From", hint: "For example, 1 11 2026", errors, value: { day: v["from-day"], month: v["from-month"], year: v["from-year"] } })}
      ${dateInput({ id: "to", legend: "To", hint: "For example, 30 11 2026", errors, value: { day: v["to-day"], month: v["to-month"], year: v["to-year"] } })}`;
    const main = render("Audit", html`
      ${errorSummary(allErrors)}
      <h1 class="govuk-heading-l">Audit</h1>
      <p class="govuk-body">${auditor ? "Every organisation's searches, people opened and decisions" : "Your organisation's searches, people opened and decisions"}, newest first.</p>
      <form novalidate id="audit-filter">
        ${textInput({ id: "user", label: "User", hint: "Their email address. Leave empty for everyone.", value: v.user, errors, spellcheck: false, classes: "govuk-!-width-one-half", labelClass: "govuk-label govuk-label--s" })}
        ${auditor ? textInput({ id: "organisation", label: "Organisation", hint: "Its id, for example walsall-council. Leave empty for every organisation.", value: v.organisation, errors, spellcheck: false, classes: "govuk-!-width-one-half", labelClass: "govuk-label govuk-label--s" }) : ""}
        ${radios({ id: "period", legend: "Period", legendClass: "govuk-fieldset__legend--s", errors, value: v.period,
          items: PERIODS.map((p) => ({ ...p, conditional: p.value === "range" ? range : null })) })}
        ${button("Show the audit", { secondary: true })}
      </form>
      ${page ? html`
        <table class="govuk-table" id="audit-events">
          <caption class="govuk-table__caption govuk-table__caption--m">${page.events.length ? `${page.events.length} events${page.next ? " on this page" : ""}` : "No events in this period"}</caption>
          <thead class="govuk-table__head"><tr class="govuk-table__row">
            <th scope="col" class="govuk-table__header">When</th>
            <th scope="col" class="govuk-table__header">User</th>
            <th scope="col" class="govuk-table__header">Action</th>
            <th scope="col" class="govuk-table__header">Gateway and purpose</th>
            <th scope="col" class="govuk-table__header">Search terms</th>
            <th scope="col" class="govuk-table__header govuk-table__header--numeric">Records returned</th>
          </tr></thead>
          <tbody class="govuk-table__body">
            ${page.events.map((e) => html`<tr class="govuk-table__row">
              <td class="govuk-table__cell">${dateTime(e.event_time)}</td>
              <td class="govuk-table__cell">${e.username}${auditor ? html`<br><span class="govuk-body-s">${e.organisation}</span>` : ""}</td>
              <td class="govuk-table__cell">${ACTIONS[e.action] || e.action}</td>
              <td class="govuk-table__cell">${e.gateway ? html`${e.gateway}<br>` : ""}${e.purpose || ""}</td>
              <td class="govuk-table__cell">${terms(e)}</td>
              <td class="govuk-table__cell govuk-table__cell--numeric">${e.records_returned}${e.sensitive_returned ? html`<br><strong class="govuk-tag govuk-tag--red">Sensitive</strong>` : ""}</td>
            </tr>`)}
          </tbody>
        </table>
        ${page.next ? html`<nav class="govuk-pagination govuk-pagination--block" aria-label="Pagination">
          <div class="govuk-pagination__next"><a class="govuk-link govuk-pagination__link" href="#/audit?${new URLSearchParams({ ...Object.fromEntries(Object.entries({ user: filters.user, organisation: filters.organisation, period: filters.period === "range" ? "" : filters.period, from: filters.from, to: filters.to }).filter(([, x]) => x)), next: page.next })}" rel="next">
            <span class="govuk-pagination__link-title">Next page</span></a></div></nav>` : ""}` : ""}`, { errors: allErrors });
    main.querySelector("#audit-filter").addEventListener("submit", (event) => {
      event.preventDefault();
      const f = formValues(event.target);
      const problems = [];
      const next = { user: f.user || "" };
      if (auditor && f.organisation) next.organisation = f.organisation;
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
