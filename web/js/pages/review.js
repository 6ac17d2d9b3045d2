// The data stewards' review queue: practitioners' reports of a wrong match first, then the pairs the
// linkage held apart or left just under its threshold. Each item shows both records side by side (a
// sensitive record by partner, date and contact only) and is decided once: the same person, not the
// same person, or left as the linkage has it. Decisions go through POST /api/link-decisions and take
// effect at the next link; listing and deciding are both audited.
import { api, ApiError } from "../api.js";
import { html } from "../html.js";
import { renderer, errorSummary, longDate, dateTime, textarea, radios, formValues, notification } from "../ui.js";

function contact(c) {
  const parts = [c.name, c.team, c.phone, c.email].filter(Boolean);
  return parts.length ? parts.join(", ") : "Not given";
}

const ROWS = [
  ["Partner", (r) => r.partner_name],
  ["Case ref", (r) => (r.sensitive ? "Sensitive record: contact the partner for details" : r.case_ref)],
  ["Name", (r) => (r.sensitive ? "" : r.full_name)],
  ["Date of birth", (r) => (r.sensitive ? "" : r.date_of_birth ? longDate(r.date_of_birth) : "Not known")],
  ["Address", (r) => (r.sensitive ? "" : r.full_address || "Not known")],
  ["Record date", (r) => longDate(r.record_date)],
  ["Contact", (r) => contact(r.contact || {})],
];

function sideBySide(item, n) {
  const side = (r, row) => (r ? row[1](r) : "No longer in the index");
  return html`<table class="govuk-table mast-wrap" id="item-${n}-records">
    <caption class="govuk-table__caption govuk-table__caption--s">The two records</caption>
    <thead class="govuk-table__head"><tr class="govuk-table__row">
      <td class="govuk-table__header"></td>
      <th scope="col" class="govuk-table__header">First record</th>
      <th scope="col" class="govuk-table__header">Second record</th>
    </tr></thead>
    <tbody class="govuk-table__body">
      ${ROWS.map((row) => html`<tr class="govuk-table__row">
        <th scope="row" class="govuk-table__header">${row[0]}</th>
        <td class="govuk-table__cell" data-label="First record">${side(item.record_a, row)}</td>
        <td class="govuk-table__cell" data-label="Second record">${side(item.record_b, row)}</td>
      </tr>`)}
    </tbody></table>`;
}

function leaveText(item) {
  return item.together_now ? "Leave them as one person (no decision)" : "Leave them apart (no decision)";
}

function itemSection(item, n, errors) {
  const mine = errors.filter((e) => e.item === item.item_id);
  return html`<section class="govuk-!-margin-bottom-9 mast-review-item" id="item-${n}" data-item="${item.item_id}">
    <h2 class="govuk-heading-m">${n}. ${item.why}</h2>
    <p class="govuk-body-s">${item.together_now ? "Now shown as one person." : "Now shown as two people."} In the queue since ${dateTime(item.created_at)}.</p>
    ${item.kind === "reported" ? html`<div class="govuk-inset-text">
      <p class="govuk-body">${item.reports === 1 ? "Reported" : `Reported ${item.reports} times, last`} by a practitioner of ${item.reported_by || "a partner"}: “${item.reason}”</p></div>` : ""}
    ${sideBySide(item, n)}
    <form novalidate class="mast-review-form" id="item-${n}-form" data-item="${item.item_id}">
      ${radios({ id: `item-${n}-decision`, name: "decision", legend: "Your decision", legendClass: "govuk-fieldset__legend--s", errors: mine,
        items: [{ value: "same", text: "The same person" }, { value: "different", text: "Not the same person" }, { value: "leave", text: leaveText(item) }] })}
      ${textarea({ id: `item-${n}-reason`, label: "Reason", hint: "What you checked, and with whom", errors: mine })}
      <button type="submit" class="govuk-button" data-module="govuk-button">Record the decision</button>
    </form>
  </section>`;
}

export async function reviewQueuePage() {
  const render = renderer();
  let queue;
  const load = async () => {
    try {
      queue = await api("GET", "/review-queue");
      return true;
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      render("The review queue cannot be shown", html`<h1 class="govuk-heading-l">The review queue cannot be shown</h1>
        <p class="govuk-body">${error.status === 503 ? "MAST records every look at the queue first, and the record could not be written. Try again in a few minutes." : error.message}</p>`);
      return false;
    }
  };
  if (!(await load())) return;
  const show = (errors = [], notice = null) => {
    const main = render("Review queue", html`
      ${notice ? notification(notice, { success: true }) : ""}
      ${errorSummary(errors)}
      <h1 class="govuk-heading-l">Review queue</h1>
      <p class="govuk-body">Pairs of records for a data steward to decide: reports from practitioners that a person shown is not one person, then the closest calls of the last links. Each is decided once; a decision takes effect at the next link.</p>
      ${queue.items.length ? queue.items.map((item, i) => itemSection(item, i + 1, errors)) : html`<p class="govuk-body" id="queue-empty">Nothing is waiting for a decision.</p>`}
      ${queue.more ? html`<p class="govuk-body">${queue.more} more waiting: decide these to see them.</p>` : ""}`, { errors });
    main.querySelectorAll("form.mast-review-form").forEach((form) => {
      form.addEventListener("submit", async (event) => {
        event.preventDefault();
        const itemId = form.dataset.item;
        const n = form.id.replace(/^item-(\d+)-form$/, "$1");
        const values = formValues(form);
        const problems = [];
        if (!values.decision) problems.push({ item: itemId, field: `item-${n}-decision`, text: `Item ${n}: choose your decision` });
        if (!values[`item-${n}-reason`] || values[`item-${n}-reason`].length < 3) problems.push({ item: itemId, field: `item-${n}-reason`, text: `Item ${n}: enter the reason for your decision` });
        if (problems.length) { show(problems); return; }
        try {
          await api("POST", "/link-decisions", { body: { decision: values.decision, review_item: itemId, reason: values[`item-${n}-reason`] } });
        } catch (error) {
          if (!(error instanceof ApiError)) throw error;
          show([{ item: itemId, field: `item-${n}-reason`, text: `Item ${n}: ${error.message}` }]);
          return;
        }
        const words = { same: "the same person", different: "not the same person", leave: "left as the linkage has it" };
        if (await load()) show([], `Recorded: ${words[values.decision]}. ${values.decision === "leave" ? "Nothing changes." : "The next link honours your decision."}`);
      });
    });
  };
  show();
}
