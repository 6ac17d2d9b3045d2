// Alerts: another agency has become involved with a person of one of the organisation's open cases,
// or with someone at their home. Newest first; each says who, when and whom to call, never the
// person's name (that opens only under a declaration, as a search does). Listing is audited.
import { api, ApiError } from "../api.js";
import { html } from "../html.js";
import { session, inGroup } from "../session.js";
import { renderer, longDate, dateTime, notification } from "../ui.js";
import { DECLARATION_HOURS } from "./search.js";

function contact(c) {
  const parts = [c.name, c.team, c.phone, c.email].filter(Boolean);
  return parts.length ? parts.join(", ") : "Not given";
}

function what(alert) {
  return alert.kind === "person"
    ? `${alert.partner_name} recorded involvement with the person of your open case`
    : `${alert.partner_name} recorded involvement with someone at the home of the person of your open case`;
}

function card(alert, n, canOpen) {
  const unseen = !alert.seen_at;
  return html`<div class="govuk-summary-card mast-alert" id="alert-${n}" data-alert="${alert.alert_id}">
    <div class="govuk-summary-card__title-wrapper">
      <h2 class="govuk-summary-card__title">${unseen ? html`<strong class="govuk-tag govuk-tag--red govuk-!-margin-right-2">New</strong>` : ""}${alert.partner_name}: ${longDate(alert.record_date)}</h2>
    </div>
    <div class="govuk-summary-card__content">
      <dl class="govuk-summary-list mast-wrap">
        <div class="govuk-summary-list__row"><dt class="govuk-summary-list__key">What</dt>
          <dd class="govuk-summary-list__value">${what(alert)}</dd></div>
        <div class="govuk-summary-list__row"><dt class="govuk-summary-list__key">Service</dt>
          <dd class="govuk-summary-list__value">${alert.sensitive ? "Sensitive record: contact the partner for details" : alert.feed_name || alert.partner_name}</dd></div>
        <div class="govuk-summary-list__row"><dt class="govuk-summary-list__key">Whom to call</dt>
          <dd class="govuk-summary-list__value">${contact(alert.contact || {})}</dd></div>
        <div class="govuk-summary-list__row"><dt class="govuk-summary-list__key">Your case</dt>
          <dd class="govuk-summary-list__value">${alert.case_references.join(", ")}${alert.case_team ? html` (${alert.case_team})` : ""}</dd></div>
        <div class="govuk-summary-list__row"><dt class="govuk-summary-list__key">Seen</dt>
          <dd class="govuk-summary-list__value">${unseen ? "Not yet" : `${dateTime(alert.seen_at)} by ${alert.seen_by}`}</dd></div>
      </dl>
      <div class="govuk-button-group">
        ${canOpen ? html`<button type="button" class="govuk-button mast-open-alert" data-module="govuk-button" data-alert="${alert.alert_id}">Open the person<span class="govuk-visually-hidden"> of alert ${n}</span></button>` : ""}
        ${unseen ? html`<button type="button" class="govuk-button govuk-button--secondary mast-seen-alert" data-module="govuk-button" data-alert="${alert.alert_id}">Mark as seen<span class="govuk-visually-hidden"> (alert ${n})</span></button>` : ""}
      </div>
    </div>
  </div>`;
}

function declarationHolds() {
  const declaration = session.declaration;
  return declaration && Date.now() - (declaration.made_at || 0) < DECLARATION_HOURS * 3600 * 1000 ? declaration : null;
}

async function openAlert(alertId, navigate, render) {
  const declaration = declarationHolds();
  if (!declaration) {
    session.afterDeclaration = `alerts?open=${encodeURIComponent(alertId)}`;
    session.notice = "Opening the person of an alert is a search: declare why you are looking first.";
    navigate("declaration");
    return;
  }
  try {
    const { gateway, gateway_other, purpose } = declaration;
    const opened = await api("POST", `/alerts/${encodeURIComponent(alertId)}/open`, { body: { declaration: { gateway, gateway_other, purpose } } });
    session.search = { result: { search_id: opened.search_id, kind: "alert", people: [], left_out: 0, dwellings: [] },
      query: {}, declaration, at: new Date().toISOString(), alert: alertId };
    navigate(`person/${encodeURIComponent(opened.person_id)}`);
  } catch (error) {
    if (!(error instanceof ApiError)) throw error;
    render("This person cannot be opened", html`<a href="#/alerts" class="govuk-back-link">Back to the alerts</a>
      <h1 class="govuk-heading-l">This person cannot be opened</h1>
      <p class="govuk-body">${error.status === 503 ? "MAST records every person opened before it shows anything, and the record could not be written. Try again in a few minutes." : error.message}</p>`);
  }
}

export async function alertsPage({ query, user, navigate }) {
  const render = renderer();
  const canOpen = inGroup(user, "practitioners");
  const toOpen = query.get("open");
  if (toOpen && canOpen) { await openAlert(toOpen, navigate, render); return; }
  const after = query.get("after");
  let list;
  try {
    list = await api("GET", after ? `/alerts?after=${encodeURIComponent(after)}` : "/alerts");
  } catch (error) {
    if (!(error instanceof ApiError)) throw error;
    render("The alerts cannot be shown", html`<h1 class="govuk-heading-l">The alerts cannot be shown</h1>
      <p class="govuk-body">${error.status === 503 ? "MAST records every look at the alerts first, and the record could not be written. Try again in a few minutes." : error.message}</p>`);
    return;
  }
  const notice = session.takeNotice();
  const { alerts, unseen, next } = list;
  // an org-admin also sees their own organisation's feeds that have missed their cadence
  const overdue = inGroup(user, "org-admins")
    ? (await api("GET", "/coverage")).feeds.filter((f) => f.partner === user.organisation && f.overdue)
    : [];
  const main = render("Alerts", html`
    ${notice ? notification(notice, { success: true }) : ""}
    <h1 class="govuk-heading-l">Alerts</h1>
    ${overdue.length ? html`<div class="govuk-warning-text" id="overdue-feeds">
      <span class="govuk-warning-text__icon" aria-hidden="true">!</span>
      <strong class="govuk-warning-text__text"><span class="govuk-visually-hidden">Warning</span>Your organisation's data is overdue: ${overdue.map((f, i) => html`${i ? "; " : ""}${f.name} (${f.last_accepted ? html`last data ${longDate(f.last_accepted)}` : "no data received yet"}, due every ${f.cadence_days === 1 ? "day" : `${f.cadence_days} days`})`)}. Until it arrives, other agencies searching MAST may not see your involvement.</strong>
    </div>` : ""}
    <p class="govuk-body">An alert says that another agency has become involved with a person of one of your organisation's open cases, or with someone at their home. Call the contact to share what you need to. ${canOpen ? "Opening the person needs a declaration, as a search does." : ""}</p>
    ${alerts.length
      ? html`<p class="govuk-body" id="alert-count">${unseen === 1 ? "1 alert is new" : `${unseen} alerts are new`}, newest first.</p>${alerts.map((a, i) => card(a, i + 1, canOpen))}`
      : html`<p class="govuk-body" id="alert-count">${after ? "There are no older alerts." : "There are no alerts for your organisation."}</p>`}
    ${next || after ? html`<nav class="govuk-pagination govuk-pagination--block" aria-label="Alerts pages">
      ${after ? html`<div class="govuk-pagination__prev"><a class="govuk-link govuk-pagination__link" href="#/alerts" rel="prev"><span class="govuk-pagination__link-title">Newest alerts</span></a></div>` : ""}
      ${next ? html`<div class="govuk-pagination__next"><a class="govuk-link govuk-pagination__link" id="older-alerts" href="#/alerts?after=${encodeURIComponent(next)}" rel="next"><span class="govuk-pagination__link-title">Older alerts</span></a></div>` : ""}
    </nav>` : ""}`);
  main.querySelectorAll(".mast-seen-alert").forEach((button) => button.addEventListener("click", async () => {
    button.disabled = true;
    await api("POST", `/alerts/${encodeURIComponent(button.dataset.alert)}/seen`);
    session.notice = "The alert is marked as seen for everyone in your organisation.";
    navigate(after ? `alerts?after=${encodeURIComponent(after)}` : "alerts");
  }));
  main.querySelectorAll(".mast-open-alert").forEach((button) => button.addEventListener("click", () => openAlert(button.dataset.alert, navigate, render)));
}

/** The count of new alerts beside "Alerts" in the navigation (a number only; not audited). */
export async function unseenCount() {
  if (!session.tokens) return 0;  // signed out meanwhile: asking would end a session that has ended
  try {
    return (await api("GET", "/alerts/count")).unseen;
  } catch {
    return 0;
  }
}
