// One person, opened through the user's own search: how much each agency has been involved and
// when, the records with whom to call, and the others known at the address. A data steward can
// mark records as the same person or not from here; anyone who searched can report a wrong match
// (records that are someone else), which goes to the data stewards' review queue.
import { api, ApiError } from "../api.js";
import { html } from "../html.js";
import { session, inGroup } from "../session.js";
import { renderer, errorSummary, backLink, longDate, dateTime, table, textarea, formValues, notification, summaryList, warningText } from "../ui.js";
import { coverageLine } from "./coverage.js";

function contact(c) {
  const parts = [c.name, c.team, c.phone, c.email].filter(Boolean);
  return parts.length ? parts.join(", ") : "Not given";
}

function involvement(counts) {
  return table({
    caption: "Involvement in the last 12 months", captionClass: "govuk-table__caption--m",
    head: ["Within 1 month", "1 to 3 months ago", "3 to 6 months ago", "6 to 12 months ago", "Total"],
    numeric: [0, 1, 2, 3, 4],
    rows: [[counts.within_1_month, counts.from_1_to_3_months, counts.from_3_to_6_months, counts.from_6_to_12_months, counts.total]],
  });
}

// When a record shows involvement: an open case "open since …, as of <snapshot>" (flagged when its
// feed is overdue), an ended case from its start to its end, an incident on its date.
export function when(r) {
  if (r.current) {
    return html`<strong class="govuk-tag govuk-tag--blue">Open now</strong><br>Open since ${longDate(r.record_date)}${r.as_of ? html`, as of ${longDate(r.as_of)}` : ""}${r.overdue ? html`<br><strong class="govuk-tag govuk-tag--orange">Data overdue</strong>` : ""}`;
  }
  if (r.end_date) return html`${longDate(r.record_date)} to ${longDate(r.end_date)} (ended)`;
  return longDate(r.record_date);
}

function openNow(a) {
  if (!a.open_cases) return a.last_involvement ? html`Last involved ${longDate(a.last_involvement)}` : "None in the last 12 months";
  return html`<strong class="govuk-tag govuk-tag--blue">Open now</strong> ${a.open_cases === 1 ? "1 case" : `${a.open_cases} cases`}, open since ${longDate(a.open_since)}${a.as_of ? html`, as of ${longDate(a.as_of)}` : ""}${a.overdue ? html` <strong class="govuk-tag govuk-tag--orange">Data overdue</strong>` : ""}`;
}

function bands(c) {
  const parts = [["In the last month", c.within_1_month], ["1 to 3 months ago", c.from_1_to_3_months], ["3 to 6 months ago", c.from_3_to_6_months], ["6 to 12 months ago", c.from_6_to_12_months]]
    .filter(([, n]) => n).map(([label, n]) => `${label}: ${n}`);
  return parts.length ? parts.join(", ") : "None dated in the last 12 months";
}

function agencies(view) {
  if (!view.agencies || !view.agencies.length) return "";
  return html`<table class="govuk-table mast-wrap" id="agencies">
    <caption class="govuk-table__caption govuk-table__caption--m">Agencies involved</caption>
    <thead class="govuk-table__head"><tr class="govuk-table__row">
      <th scope="col" class="govuk-table__header">Agency</th>
      <th scope="col" class="govuk-table__header">Involvement</th>
      <th scope="col" class="govuk-table__header">Records by when</th>
      <th scope="col" class="govuk-table__header">Whom to call</th>
    </tr></thead>
    <tbody class="govuk-table__body">
      ${view.agencies.map((a) => html`<tr class="govuk-table__row">
        <th scope="row" class="govuk-table__header">${a.partner_name}</th>
        <td class="govuk-table__cell" data-label="Involvement">${openNow(a)}</td>
        <td class="govuk-table__cell" data-label="Records by when">${bands(a.involvement)}</td>
        <td class="govuk-table__cell" data-label="Whom to call">${a.contacts.map((c, i) => html`${i ? html`<br>` : ""}${contact(c)}`)}</td>
      </tr>`)}
    </tbody></table>`;
}

function variants(view) {
  const rows = [];
  const list = (vs, format) => html`<ul class="govuk-list">${vs.map((v) => html`<li>${format(v.value)}: ${v.partners.join(", ")} (${v.records === 1 ? "1 record" : `${v.records} records`})</li>`)}</ul>`;
  if (view.name_variants && view.name_variants.length) rows.push(["Names recorded", list(view.name_variants, (v) => v)]);
  if (view.dob_variants && view.dob_variants.length) rows.push(["Dates of birth recorded", list(view.dob_variants, longDate)]);
  if (!rows.length) return "";
  return html`${warningText("Agencies record this person differently. Check the names and dates of birth below before you act.")}
    ${summaryList(rows)}`;
}

function records(view, steward) {
  if (!view.records.length) return html`<h2 class="govuk-heading-m">Records</h2><p class="govuk-body">No open case and no record in the last 12 months.</p>`;
  return html`<table class="govuk-table mast-wrap" id="records">
    <caption class="govuk-table__caption govuk-table__caption--m">Records: open cases first, then newest first</caption>
    <thead class="govuk-table__head"><tr class="govuk-table__row">
      ${steward ? html`<th scope="col" class="govuk-table__header"><span class="govuk-visually-hidden">Select</span></th>` : ""}
      <th scope="col" class="govuk-table__header">When</th>
      <th scope="col" class="govuk-table__header">Partner</th>
      <th scope="col" class="govuk-table__header">Case ref</th>
      <th scope="col" class="govuk-table__header">Name and date of birth</th>
      <th scope="col" class="govuk-table__header">Address</th>
      <th scope="col" class="govuk-table__header">Contact</th>
    </tr></thead>
    <tbody class="govuk-table__body">
      ${view.records.map((r, i) => html`<tr class="govuk-table__row">
        ${steward ? html`<td class="govuk-table__cell">${r.record_id ? html`<div class="govuk-checkboxes govuk-checkboxes--small" data-module="govuk-checkboxes"><div class="govuk-checkboxes__item">
          <input class="govuk-checkboxes__input" id="record-${i}" name="record" type="checkbox" value="${r.record_id}" form="decision-form">
          <label class="govuk-label govuk-checkboxes__label" for="record-${i}"><span class="govuk-visually-hidden">Record ${r.case_ref || i + 1}</span></label></div></div>` : ""}</td>` : ""}
        <td class="govuk-table__cell" data-label="When">${when(r)}</td>
        <td class="govuk-table__cell" data-label="Partner">${r.partner_name}${r.sensitive ? html`<br><strong class="govuk-tag govuk-tag--red">Sensitive</strong>` : ""}</td>
        ${r.sensitive
          ? html`<td class="govuk-table__cell" colspan="3">Sensitive record: contact the partner for details</td>`
          : html`<td class="govuk-table__cell" data-label="Case ref">${r.case_ref}</td>
            <td class="govuk-table__cell" data-label="Name and date of birth">${r.full_name}<br>${r.date_of_birth ? longDate(r.date_of_birth) : "Date of birth not known"}</td>
            <td class="govuk-table__cell" data-label="Address">${r.full_address}</td>`}
        <td class="govuk-table__cell" data-label="Contact">${contact(r.contact || {})}</td>
      </tr>`)}
    </tbody></table>`;
}

function households(view) {
  if (!view.addresses || !view.addresses.length) return "";
  return html`<h2 class="govuk-heading-m">Others known at the address</h2>
    ${view.addresses.map((a) => html`<h3 class="govuk-heading-s">${a.address}</h3>
      ${a.others.length ? table({
        caption: `Others known at ${a.address}`, captionClass: "govuk-visually-hidden",
        head: ["Name", "Date of birth", "Agencies involved", "Records"], numeric: [3],
        rows: a.others.map((o) => [
          o.person_id ? html`<a class="govuk-link" href="#/person/${encodeURIComponent(o.person_id)}">${o.name}</a>` : o.name,
          o.date_of_birth ? longDate(o.date_of_birth) : "Not known",
          o.agencies && o.agencies.length
            ? html`${o.agencies.map((name, i) => html`${i ? html`<br>` : ""}${name}${(o.open_now || []).includes(name) ? html` <strong class="govuk-tag govuk-tag--blue">Open now</strong>` : ""}`)}`
            : "None in the last 12 months",
          o.records]),
      }) : html`<p class="govuk-body">No one else is known at this address.</p>`}`)}`;
}

function searched(query) {
  const q = query || {};
  const dob = q.dob ? [q.dob.day, q.dob.month, q.dob.year].filter(Boolean).join("/") : "";
  return [q.given_name, q.middle_name, q.family_name, dob, q.address_line1, q.address_line2, q.postcode].filter(Boolean).join(", ");
}

// Printed only: what was searched, by whom, when, under which declaration (the screen shows these
// on the search page already).
function printHeader(stored, user, printedAt) {
  const d = stored.declaration || {};
  const gateway = d.gateway_other ? `${d.label || d.gateway}: ${d.gateway_other}` : (d.label || d.gateway || "");
  return html`<div class="mast-print-only" id="print-summary">
    <p class="govuk-body-s">MAST summary for a meeting. Printed ${printedAt ? dateTime(printedAt) : ""}. Keep it secure and destroy it after the meeting.</p>
    ${summaryList([["Searched for", searched(stored.query)], ["Searched by", user ? user.email : ""],
      ["Searched at", stored.at ? dateTime(stored.at) : ""], ["Legal gateway", gateway], ["Purpose", d.purpose || ""]])}
  </div>`;
}

function decisionForm(errors) {
  return html`<h2 class="govuk-heading-m">Correct the linkage</h2>
    <p class="govuk-body">Select two or more records above, then say whether they are the same person. The next link honours your decision.</p>
    <form novalidate id="decision-form">
      <div class="govuk-form-group${errors.some((e) => e.field === "record-0") ? " govuk-form-group--error" : ""}">
        ${errors.filter((e) => e.field === "record-0").map((e) => html`<p class="govuk-error-message" id="records-error"><span class="govuk-visually-hidden">Error:</span> ${e.text}</p>`)}
      </div>
      ${textarea({ id: "reason", label: "Reason", hint: "Why these records are, or are not, the same person", errors })}
      <div class="govuk-button-group">
        <button type="submit" class="govuk-button" data-module="govuk-button" name="decision" value="same">Same person</button>
        <button type="submit" class="govuk-button govuk-button--secondary" data-module="govuk-button" name="decision" value="different">Not the same person</button>
      </div>
    </form>`;
}

// "Report a wrong match": the records shown (not sensitive ones: their details are not shown) that
// the user thinks are someone else, and why. The data stewards decide; the report is audited.
function reportForm(view, errors, open) {
  const shown = view.records.filter((r) => r.record_id);
  if (!shown.length) return "";
  const recordsError = errors.find((e) => e.field === "report-record-0");
  return html`<details class="govuk-details mast-no-print" id="report-details"${open ? html` open` : ""}>
    <summary class="govuk-details__summary"><span class="govuk-details__summary-text">Report a wrong match</span></summary>
    <div class="govuk-details__text">
      <p class="govuk-body">If some of these records are about someone else, tell MAST's data stewards. They check the records and correct the linkage; your report is recorded in the audit.</p>
      <form novalidate id="report-form">
        <div class="govuk-form-group${recordsError ? " govuk-form-group--error" : ""}">
          <fieldset class="govuk-fieldset">
            <legend class="govuk-fieldset__legend govuk-fieldset__legend--s">Which records are not this person?</legend>
            ${recordsError ? html`<p class="govuk-error-message" id="report-record-0-error"><span class="govuk-visually-hidden">Error:</span> ${recordsError.text}</p>` : ""}
            <div class="govuk-checkboxes govuk-checkboxes--small" data-module="govuk-checkboxes">
              ${shown.map((r, i) => html`<div class="govuk-checkboxes__item">
                <input class="govuk-checkboxes__input" id="report-record-${i}" name="report-record" type="checkbox" value="${r.record_id}">
                <label class="govuk-label govuk-checkboxes__label" for="report-record-${i}">${r.partner_name}, ${r.case_ref}: ${r.full_name}, ${r.date_of_birth ? longDate(r.date_of_birth) : "date of birth not known"}</label>
              </div>`)}
            </div>
          </fieldset>
        </div>
        ${textarea({ id: "report-reason", label: "Why are they not this person?", hint: "For example: a different date of birth on the agency's own file, or the agency says it is a relative", errors })}
        <button type="submit" class="govuk-button govuk-button--warning" data-module="govuk-button" id="report-submit">Send the report</button>
      </form>
    </div>
  </details>`;
}

export async function personPage({ params, user, navigate }) {
  const render = renderer();
  const stored = session.search;
  const personId = params[0];
  if (!stored || !personId) { navigate("declaration"); return; }
  let view;
  try {
    view = await api("GET", `/people/${encodeURIComponent(personId)}`, { query: { search: stored.result.search_id } });
  } catch (error) {
    if (!(error instanceof ApiError)) throw error;
    const title = error.status === 503 ? "This person could not be shown" : "This person cannot be opened";
    render(title, html`${backLink(stored.alert ? "#/alerts" : "#/results", stored.alert ? "Back to the alerts" : "Back to the results")}
      <h1 class="govuk-heading-l">${title}</h1>
      <p class="govuk-body">${error.status === 503 ? "MAST records every person opened before it shows anything, and the record could not be written. Try again in a few minutes." : error.message}</p>
      <p class="govuk-body"><a class="govuk-link" href="#/declaration">Start a new search</a></p>`);
    return;
  }
  const steward = inGroup(user, "data-stewards");
  const coverage = await coverageLine();
  let printedAt = null;
  const show = (errors = [], notice = null, reporting = false) => {
    const main = render(view.name, html`
      ${backLink(stored.alert ? "#/alerts" : "#/results", stored.alert ? "Back to the alerts" : "Back to the results")}
      ${notice ? notification(notice, { success: true }) : ""}
      ${errorSummary(errors)}
      ${printHeader(stored, user, printedAt)}
      <span class="govuk-caption-l">Possible person</span>
      <h1 class="govuk-heading-l">${view.name}</h1>
      <div class="govuk-button-group mast-no-print"><button type="button" class="govuk-button govuk-button--secondary" data-module="govuk-button" id="print">Print a summary for a meeting</button></div>
      ${summaryList([["Date of birth", view.date_of_birth ? longDate(view.date_of_birth) : "Not known"]])}
      ${variants(view)}
      ${agencies(view)}
      ${involvement(view.involvement)}
      ${records(view, steward)}
      ${households(view)}
      ${reportForm(view, errors, reporting)}
      ${steward ? decisionForm(errors) : ""}
      ${coverage}`, { errors });
    main.querySelector("#print").addEventListener("click", async () => {
      try {
        const recorded = await api("POST", `/people/${encodeURIComponent(personId)}/print`, { query: { search: stored.result.search_id } });
        printedAt = recorded.printed_at;
      } catch (error) {
        if (!(error instanceof ApiError)) throw error;
        show([{ field: "print", text: `The summary cannot be printed: ${error.status === 503 ? "MAST records every printing first, and the record could not be written. Try again in a few minutes." : error.message}` }]);
        return;
      }
      show();
      window.print();
    });
    const report = main.querySelector("#report-form");
    if (report) {
      report.addEventListener("submit", async (event) => {
        event.preventDefault();
        const chosen = [...report.querySelectorAll('input[name="report-record"]:checked')].map((box) => box.value);
        const reason = formValues(report)["report-reason"] || "";
        const problems = [];
        if (!chosen.length) problems.push({ field: "report-record-0", text: "Select the records that are not this person" });
        if (reason.length < 3) problems.push({ field: "report-reason", text: "Say why these records are not this person" });
        if (problems.length) { show(problems, null, true); return; }
        try {
          await api("POST", `/people/${encodeURIComponent(personId)}/wrong-match`, { query: { search: stored.result.search_id }, body: { record_ids: chosen, reason } });
          show([], "Thank you: your report is with the data stewards. They will check these records and correct the linkage if they are not one person.");
        } catch (error) {
          if (!(error instanceof ApiError)) throw error;
          const fields = error.fieldErrors({ reason: "report-reason", record_ids: "report-record-0" });
          if (fields.length) { show(fields, null, true); return; }
          const text = error.status === 503 ? "MAST records every report first, and the record could not be written. Try again in a few minutes." : error.message;
          show([{ field: "report-reason", text: `The report was not sent: ${text}` }], null, true);
        }
      });
    }
    const form = main.querySelector("#decision-form");
    if (!form) return;
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const decision = event.submitter ? event.submitter.value : "same";
      const chosen = [...main.querySelectorAll('input[name="record"]:checked')].map((box) => box.value);
      const reason = formValues(form).reason || "";
      const problems = [];
      if (chosen.length < 2) problems.push({ field: "record-0", text: "Select at least two records" });
      if (reason.length < 3) problems.push({ field: "reason", text: "Enter the reason for your decision" });
      if (problems.length) { show(problems); return; }
      try {
        await api("POST", "/link-decisions", { body: { decision, record_ids: chosen, reason } });
        show([], decision === "same" ? "Recorded: these records are the same person. The next link joins them." : "Recorded: these records are not the same person. The next link keeps them apart.");
      } catch (error) {
        if (!(error instanceof ApiError)) throw error;
        show([{ field: "reason", text: error.message }]);
      }
    });
  };
  show();
}
