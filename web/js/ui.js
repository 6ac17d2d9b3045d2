// GOV.UK Design System markup the pages share: fields, error summary, tables, buttons.
// Errors follow the error-summary pattern: a summary at the top linking to each field, the
// field's own message, "Error: " in the title, and focus moved to the summary.
import { initAll } from "../dist/govuk-frontend.min.js";
import { html, SafeHtml } from "./html.js";

export const SERVICE = "MAST";

let generation = 0;

/** The router calls this as each route starts: a page still loading for an older route is stale. */
export function nextRoute() { return ++generation; }

/**
 * A render function for the page starting now. A page that finishes loading after the user has
 * moved on (a slow API call, then a click elsewhere) renders into a detached element instead of
 * over the page the user is on. Each page calls this synchronously, first thing.
 */
export function renderer() {
  const mine = generation;
  return (title, body, options) => {
    if (mine === generation) return render(title, body, options);
    const detached = document.createElement("main");
    detached.innerHTML = String(body);
    return detached;
  };
}

/** Replace the main content, set the title, and move focus for screen-reader users. */
export function render(title, body, { errors = [] } = {}) {
  const main = document.getElementById("main-content");
  main.innerHTML = String(body);
  initAll({ scope: main });
  revealConditionals(main);
  document.title = `${errors.length ? "Error: " : ""}${title} – ${SERVICE}`;
  const summary = main.querySelector(".govuk-error-summary");
  if (summary) {
    summary.focus();
  } else {
    main.focus({ preventScroll: true });
    window.scrollTo(0, 0);
  }
  return main;
}

/**
 * Radios' conditional reveals, as GOV.UK Frontend's Radios component does them but without the
 * aria-expanded it puts on each radio: ARIA does not allow that attribute on a radio, and axe
 * (WCAG 2.2 AA, aria-allowed-attr) fails the page for it. aria-controls is kept.
 */
function revealConditionals(root) {
  root.querySelectorAll("[data-mast-radios]").forEach((group) => {
    const inputs = [...group.querySelectorAll('input[type="radio"]')];
    const sync = () => inputs.forEach((input) => {
      const id = input.getAttribute("data-aria-controls") || input.getAttribute("aria-controls");
      const panel = id && document.getElementById(id);
      if (!panel) return;
      input.setAttribute("aria-controls", id);
      input.removeAttribute("data-aria-controls");
      panel.classList.toggle("govuk-radios__conditional--hidden", !input.checked);
    });
    group.addEventListener("change", sync);
    sync();
  });
}

export function errorSummary(errors) {
  if (!errors.length) return "";
  return html`<div class="govuk-error-summary" data-module="govuk-error-summary" tabindex="-1">
    <div role="alert">
      <h2 class="govuk-error-summary__title">There is a problem</h2>
      <div class="govuk-error-summary__body">
        <ul class="govuk-list govuk-error-summary__list">
          ${errors.map((e) => html`<li>${e.field ? html`<a href="#${e.field}" data-field="${e.field}">${e.text}</a>` : e.text}</li>`)}
        </ul>
      </div>
    </div>
  </div>`;
}

export function errorFor(errors, id) {
  return errors.find((e) => e.field === id || (e.fields || []).includes(id));
}

function message(id, error) {
  return error ? html`<p id="${id}-error" class="govuk-error-message"><span class="govuk-visually-hidden">Error:</span> ${error.text}</p>` : "";
}

export function textInput({ id, name = id, label, hint, value = "", errors = [], type = "text", autocomplete, classes = "",
  spellcheck, inputmode, labelClass = "govuk-label", heading = false }) {
  const error = errorFor(errors, id);
  const describedBy = [hint ? `${id}-hint` : "", error ? `${id}-error` : ""].filter(Boolean).join(" ");
  const labelHtml = html`<label class="${heading ? "govuk-label govuk-label--l" : labelClass}" for="${id}">${label}</label>`;
  return html`<div class="govuk-form-group${error ? " govuk-form-group--error" : ""}">
    ${heading ? html`<h1 class="govuk-label-wrapper">${labelHtml}</h1>` : labelHtml}
    ${hint ? html`<div id="${id}-hint" class="govuk-hint">${hint}</div>` : ""}
    ${message(id, error)}
    <input class="govuk-input${classes ? " " + classes : ""}${error ? " govuk-input--error" : ""}" id="${id}" name="${name}" type="${type}" value="${value ?? ""}"${describedBy ? html` aria-describedby="${describedBy}"` : ""}${autocomplete ? html` autocomplete="${autocomplete}"` : ""}${spellcheck === false ? new SafeHtml(' spellcheck="false"') : ""}${inputmode ? html` inputmode="${inputmode}"` : ""}>
  </div>`;
}

export function textarea({ id, label, hint, value = "", errors = [], rows = 3 }) {
  const error = errorFor(errors, id);
  const describedBy = [hint ? `${id}-hint` : "", error ? `${id}-error` : ""].filter(Boolean).join(" ");
  return html`<div class="govuk-form-group${error ? " govuk-form-group--error" : ""}">
    <label class="govuk-label govuk-label--s" for="${id}">${label}</label>
    ${hint ? html`<div id="${id}-hint" class="govuk-hint">${hint}</div>` : ""}
    ${message(id, error)}
    <textarea class="govuk-textarea${error ? " govuk-textarea--error" : ""}" id="${id}" name="${id}" rows="${rows}"${describedBy ? html` aria-describedby="${describedBy}"` : ""}>${value ?? ""}</textarea>
  </div>`;
}

export function radios({ id, name = id, legend, hint, items, value, errors = [], legendClass = "govuk-fieldset__legend--m", inline = false }) {
  const error = errorFor(errors, id);
  const describedBy = [hint ? `${id}-hint` : "", error ? `${id}-error` : ""].filter(Boolean).join(" ");
  return html`<div class="govuk-form-group${error ? " govuk-form-group--error" : ""}">
    <fieldset class="govuk-fieldset"${describedBy ? html` aria-describedby="${describedBy}"` : ""}>
      <legend class="govuk-fieldset__legend ${legendClass}">${legend}</legend>
      ${hint ? html`<div id="${id}-hint" class="govuk-hint">${hint}</div>` : ""}
      ${message(id, error)}
      <div class="govuk-radios${inline ? " govuk-radios--inline" : ""}" data-mast-radios>
        ${items.map((item, i) => {
          const itemId = i === 0 ? id : `${id}-${i + 1}`;
          return html`<div class="govuk-radios__item">
            <input class="govuk-radios__input" id="${itemId}" name="${name}" type="radio" value="${item.value}"${item.value === value ? new SafeHtml(" checked") : ""}${item.conditional ? html` data-aria-controls="${itemId}-conditional"` : ""}>
            <label class="govuk-label govuk-radios__label" for="${itemId}">${item.text}</label>
            ${item.hint ? html`<div class="govuk-hint govuk-radios__hint">${item.hint}</div>` : ""}
          </div>
          ${item.conditional ? html`<div class="govuk-radios__conditional govuk-radios__conditional--hidden" id="${itemId}-conditional">${item.conditional}</div>` : ""}`;
        })}
      </div>
    </fieldset>
  </div>`;
}

export function dateInput({ id, legend, hint, value = {}, errors = [], autocomplete = false }) {
  const error = errorFor(errors, id);
  const describedBy = [hint ? `${id}-hint` : "", error ? `${id}-error` : ""].filter(Boolean).join(" ");
  const bad = (part) => error && (!error.parts || error.parts.includes(part));
  const item = (part, label, width) => html`<div class="govuk-date-input__item">
      <div class="govuk-form-group">
        <label class="govuk-label govuk-date-input__label" for="${id}-${part}">${label}</label>
        <input class="govuk-input govuk-date-input__input govuk-input--width-${width}${bad(part) ? " govuk-input--error" : ""}" id="${id}-${part}" name="${id}-${part}" type="text" inputmode="numeric" value="${value[part] ?? ""}"${autocomplete ? html` autocomplete="bday-${part}"` : ""}>
      </div>
    </div>`;
  return html`<div class="govuk-form-group${error ? " govuk-form-group--error" : ""}">
    <fieldset class="govuk-fieldset" role="group"${describedBy ? html` aria-describedby="${describedBy}"` : ""}>
      <legend class="govuk-fieldset__legend govuk-fieldset__legend--s">${legend}</legend>
      ${hint ? html`<div id="${id}-hint" class="govuk-hint">${hint}</div>` : ""}
      ${message(id, error)}
      <div class="govuk-date-input" id="${id}">
        ${item("day", "Day", 2)}${item("month", "Month", 2)}${item("year", "Year", 4)}
      </div>
    </fieldset>
  </div>`;
}

export function button(text, { secondary = false, warning = false, type = "submit", id } = {}) {
  const classes = ["govuk-button", secondary && "govuk-button--secondary", warning && "govuk-button--warning"].filter(Boolean).join(" ");
  return html`<button type="${type}" class="${classes}" data-module="govuk-button"${id ? html` id="${id}"` : ""}>${text}</button>`;
}

export function table({ caption, head, rows, captionClass = "govuk-table__caption--m", numeric = [] }) {
  return html`<table class="govuk-table">
    ${caption ? html`<caption class="govuk-table__caption ${captionClass}">${caption}</caption>` : ""}
    <thead class="govuk-table__head"><tr class="govuk-table__row">
      ${head.map((h, i) => html`<th scope="col" class="govuk-table__header${numeric.includes(i) ? " govuk-table__header--numeric" : ""}">${h}</th>`)}
    </tr></thead>
    <tbody class="govuk-table__body">
      ${rows.map((row) => html`<tr class="govuk-table__row">${row.map((cell, i) => i === 0 && cell && cell.header
        ? html`<th scope="row" class="govuk-table__header">${cell.value}</th>`
        : html`<td class="govuk-table__cell${numeric.includes(i) ? " govuk-table__cell--numeric" : ""}" data-label="${typeof head[i] === "string" ? head[i] : ""}">${cell}</td>`)}</tr>`)}
    </tbody>
  </table>`;
}

export function summaryList(rows) {
  return html`<dl class="govuk-summary-list">
    ${rows.map(([key, value]) => html`<div class="govuk-summary-list__row">
      <dt class="govuk-summary-list__key">${key}</dt><dd class="govuk-summary-list__value">${value}</dd></div>`)}
  </dl>`;
}

export function notification(text, { success = false, title } = {}) {
  return html`<div class="govuk-notification-banner${success ? " govuk-notification-banner--success" : ""}" role="${success ? "alert" : "region"}" aria-labelledby="notification-title" data-module="govuk-notification-banner">
    <div class="govuk-notification-banner__header">
      <h2 class="govuk-notification-banner__title" id="notification-title">${title || (success ? "Success" : "Important")}</h2>
    </div>
    <div class="govuk-notification-banner__content"><p class="govuk-notification-banner__heading">${text}</p></div>
  </div>`;
}

export function warningText(text) {
  return html`<div class="govuk-warning-text">
    <span class="govuk-warning-text__icon" aria-hidden="true">!</span>
    <strong class="govuk-warning-text__text"><span class="govuk-visually-hidden">Warning</span>${text}</strong>
  </div>`;
}

export function backLink(href, text = "Back") {
  return html`<a href="${href}" class="govuk-back-link">${text}</a>`;
}

/** The values of a form's named controls, trimmed. */
export function formValues(form) {
  const out = {};
  for (const [key, value] of new FormData(form).entries()) out[key] = typeof value === "string" ? value.trim() : value;
  return out;
}

/** A date as the GOV.UK style writes it: 4 June 2025. Accepts YYYY-MM-DD, YYYY-MM or YYYY. */
export function longDate(value) {
  if (!value) return "";
  const months = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"];
  const m = /^(\d{4})(?:-(\d{2}))?(?:-(\d{2}))?/.exec(String(value));
  if (!m) return String(value);
  const [, y, mo, d] = m;
  return [d ? Number(d) : "", mo ? months[Number(mo) - 1] : "", y].filter(Boolean).join(" ");
}

export function dateTime(value) {
  if (!value) return "";
  const when = new Date(value);
  if (Number.isNaN(when.getTime())) return String(value);
  return when.toLocaleString("en-GB", { timeZone: "Europe/London", day: "numeric", month: "long", year: "numeric", hour: "2-digit", minute: "2-digit" });
}
