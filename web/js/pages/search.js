// Search (names, date of birth, address) under the declaration just made, and the results:
// every possible person with just enough to choose. A search that could not be audited shows
// nothing. The API has the last word on what is enough to search on; the page checks first so
// that the practitioner sees every problem at once.
import { api, ApiError } from "../api.js";
import { html } from "../html.js";
import { session } from "../session.js";
import { renderer, errorSummary, textInput, dateInput, button, formValues, summaryList, longDate, backLink } from "../ui.js";
import { coverageLine } from "./coverage.js";

/** How long one declaration holds for a piece of work (or until sign-out, or until it is changed). */
export const DECLARATION_HOURS = 8;

const POSTCODE = /^[A-Z]{1,2}[0-9][A-Z0-9]? ?[0-9][A-Z]{2}$/i;

const FIELD_MAP = {
  given_name: "given-name", middle_name: "middle-name", family_name: "family-name", dob: "dob-day",
  address_line1: "address-line1", address_line2: "address-line2", postcode: "postcode", query: "family-name",
  purpose: "purpose", gateway: "gateway", declaration: "gateway",
};

function validDate(day, month, year, errors) {
  const given = [day, month, year].filter((v) => v !== "").length;
  if (!given) return null;
  const bad = [];
  const parts = {};
  for (const [name, value, min, max] of [["day", day, 1, 31], ["month", month, 1, 12], ["year", year, 1880, new Date().getFullYear()]]) {
    if (value === "") continue;
    if (!/^\d+$/.test(value) || Number(value) < min || Number(value) > max || (name === "year" && value.length !== 4)) bad.push(name);
    else parts[name] = Number(value);
  }
  if (bad.length) {
    const text = bad.includes("year") && year !== "" && /^\d+$/.test(year) && Number(year) > new Date().getFullYear()
      ? "Date of birth must be in the past"
      : `Date of birth must be a real date: ${bad.map((b) => (b === "year" ? "a 4-digit year" : `a ${b} from 1 to ${b === "day" ? 31 : 12}`)).join(", ")}`;
    errors.push({ field: `dob-${bad[0]}`, fields: ["dob"], parts: bad, text });
    return null;
  }
  if (parts.day && !parts.month) { errors.push({ field: "dob-month", fields: ["dob"], parts: ["month"], text: "Date of birth must include a month when it includes a day" }); return null; }
  if (parts.day && parts.month) {
    const year = parts.year || 2000;
    const date = new Date(Date.UTC(year, parts.month - 1, parts.day));
    if (date.getUTCMonth() !== parts.month - 1) { errors.push({ field: "dob-day", fields: ["dob"], parts: ["day", "month"], text: "Date of birth must be a real date" }); return null; }
    if (parts.year && date > new Date()) { errors.push({ field: "dob-day", fields: ["dob"], text: "Date of birth must be in the past" }); return null; }
  }
  return { day: parts.day ?? null, month: parts.month ?? null, year: parts.year ?? null };
}

function describeDeclaration(declaration) {
  const label = declaration.label || declaration.gateway;
  return declaration.gateway_other ? `${label}: ${declaration.gateway_other}` : label;
}

export async function searchPage({ navigate }) {
  const render = renderer();
  let declaration = session.declaration;
  if (declaration && !(Date.now() - (declaration.made_at || 0) < DECLARATION_HOURS * 3600 * 1000)) {
    session.declaration = null;
    session.notice = `Your declaration was made more than ${DECLARATION_HOURS} hours ago. Declare why you are searching again.`;
    declaration = null;
    navigate("declaration");
    return;
  }
  if (!declaration) {
    session.notice = "Declare why you are searching before you search.";
    navigate("declaration");
    return;
  }
  const show = (errors = [], values = {}, problem = null) => {
    const main = render(problem ? problem.title : "Search for a person or an address", html`
      ${backLink("#/declaration", "Change the declaration")}
      ${errorSummary(errors)}
      ${problem ? problem.body : ""}
      <h1 class="govuk-heading-l">Search for a person or an address</h1>
      ${summaryList([["Legal gateway", describeDeclaration(declaration)], ["Purpose", declaration.purpose]])}
      <p class="govuk-body">This declaration holds for each search you make for this piece of work, until you sign out or for ${DECLARATION_HOURS} hours. <a class="govuk-link" href="#/declaration">Change the declaration</a> when the work changes.</p>
      <p class="govuk-body">Give a family name with a given name or a date of birth to find a person; a postcode, or the first two lines of an address, to find an address. Give both to find a person at an address.</p>
      <form novalidate>
        <h2 class="govuk-heading-m">Person</h2>
        ${textInput({ id: "given-name", label: "Given name", value: values["given-name"], errors, autocomplete: "off", spellcheck: false, classes: "govuk-!-width-one-half" })}
        ${textInput({ id: "middle-name", label: "Middle names", value: values["middle-name"], errors, autocomplete: "off", spellcheck: false, classes: "govuk-!-width-one-half" })}
        ${textInput({ id: "family-name", label: "Family name", value: values["family-name"], errors, autocomplete: "off", spellcheck: false, classes: "govuk-!-width-one-half" })}
        ${dateInput({ id: "dob", legend: "Date of birth", hint: "For example, 27 3 2007. Give as much as you know.", errors,
          value: { day: values["dob-day"], month: values["dob-month"], year: values["dob-year"] } })}
        <h2 class="govuk-heading-m">Address</h2>
        ${textInput({ id: "address-line1", label: "Address line 1", hint: "House number or name, and street", value: values["address-line1"], errors, autocomplete: "off" })}
        ${textInput({ id: "address-line2", label: "Address line 2 (optional)", value: values["address-line2"], errors, autocomplete: "off" })}
        ${textInput({ id: "postcode", label: "Postcode", value: values.postcode, errors, autocomplete: "off", spellcheck: false, classes: "govuk-input--width-10" })}
        ${button("Search")}
      </form>`, { errors });
    main.querySelector("form").addEventListener("submit", async (event) => {
      event.preventDefault();
      const v = formValues(event.target);
      const errors = [];
      const dob = validDate(v["dob-day"], v["dob-month"], v["dob-year"], errors);
      if (v.postcode && !POSTCODE.test(v.postcode)) errors.push({ field: "postcode", text: "Enter a real postcode, like WS1 1AA" });
      for (const [id, label, max] of [["given-name", "Given name", 100], ["middle-name", "Middle names", 100], ["family-name", "Family name", 100], ["address-line1", "Address line 1", 200], ["address-line2", "Address line 2", 200]]) {
        if ((v[id] || "").length > max) errors.push({ field: id, text: `${label} must be ${max} characters or fewer` });
      }
      const person = v["family-name"] && (v["given-name"] || dob);
      const address = (v.postcode && POSTCODE.test(v.postcode)) || (v["address-line1"] && v["address-line2"]);
      if (!errors.length && !person && !address) {
        if (v["family-name"]) errors.push({ field: "given-name", text: "Enter a given name or a date of birth as well as the family name" });
        else if (v["given-name"] || dob) errors.push({ field: "family-name", text: "Enter a family name" });
        else if (v["address-line1"] || v["address-line2"]) errors.push({ field: "postcode", text: "Enter a postcode, or both lines of the address" });
        else errors.push({ field: "family-name", text: "Enter a family name with a given name or date of birth, or a postcode" });
      }
      if (errors.length) { show(errors, v); return; }
      const query = {
        given_name: v["given-name"] || null, middle_name: v["middle-name"] || null, family_name: v["family-name"] || null,
        dob, address_line1: v["address-line1"] || null, address_line2: v["address-line2"] || null, postcode: v.postcode || null,
      };
      try {
        const { gateway, gateway_other, purpose } = declaration;
        const result = await api("POST", "/search", { body: { declaration: { gateway, gateway_other, purpose }, query } });
        session.search = { result, query, declaration, at: new Date().toISOString() };
        // one declaration for a piece of work: it holds for further searches until sign-out, 8 hours
        // or the user changes it; each search sends it again and is audited under it
        navigate("results");
      } catch (error) {
        if (!(error instanceof ApiError)) throw error;
        if (error.status === 503) {
          // 503: the search was not recorded in the audit (or search is down): nothing is shown.
          const audit = /audit|record/i.test(error.message);
          const title = audit ? "Your search could not be recorded, so no results are shown" : "Search is not available just now, so no results are shown";
          show([], v, {
            title,
            body: html`<div class="govuk-error-summary" tabindex="-1" data-module="govuk-error-summary" id="search-unavailable"><div role="alert">
              <h2 class="govuk-error-summary__title">${title}</h2>
              <div class="govuk-error-summary__body">
                ${audit ? html`<p class="govuk-body">MAST records every search before it shows anything, and this search could not be recorded.</p>` : html`<p class="govuk-body">${error.message}.</p>`}
                <p class="govuk-body">Try again in a few minutes. If it keeps happening, tell your MAST administrator.</p>
              </div>
            </div></div>`,
          });
          return;
        }
        const fieldErrors = error.fieldErrors(FIELD_MAP);
        show(fieldErrors.length ? fieldErrors : [{ field: "family-name", text: error.message }], v);
      }
    });
  };
  show();
}

function band(person) {
  return person.band === "strong"
    ? html`<strong class="govuk-tag govuk-tag--green">Strong match</strong>`
    : html`<strong class="govuk-tag govuk-tag--yellow">Possible match</strong>`;
}

const FIELD_LABELS = {
  given_name: "Given name", family_name: "Family name", middle_name: "Middle name", dob: "Date of birth",
  sex: "Sex", address: "Address", nhs_number: "NHS number", name: "Name",
};

// Why it matched, in words; the weights (bits of evidence) behind a details toggle.
function why(person, i) {
  const reasons = (person.why || []).filter((w) => w.weight !== 0);
  const label = (w) => FIELD_LABELS[w.field] || w.field.replace(/_/g, " ");
  return html`<ul class="govuk-list mast-why">${reasons.map((w) => html`<li>${label(w)}: ${w.explanation || w.level}</li>`)}</ul>
    <details class="govuk-details mast-weights" id="weights-${i}">
      <summary class="govuk-details__summary"><span class="govuk-details__summary-text">How this was scored</span></summary>
      <div class="govuk-details__text"><ul class="govuk-list">${reasons.map((w) => html`<li>${label(w)} ${w.weight > 0 ? "+" : ""}${w.weight.toFixed(1)}</li>`)}</ul>
      <p class="govuk-body-s">Evidence for (+) or against (−) in bits; ${Math.round(person.probability * 100)}% likely overall.</p></div>
    </details>`;
}

function agenciesCell(p) {
  if (!p.agencies.length) return "None in the last 12 months";
  return html`${p.agencies.map((name, i) => html`${i ? html`<br>` : ""}${name}${p.open_now.includes(name) ? html` <strong class="govuk-tag govuk-tag--blue">Open now</strong>` : ""}`)}`;
}

function dwellings(result) {
  return html`${result.dwellings.map((d, i) => html`<table class="govuk-table mast-wrap" id="dwelling-${i}">
    <caption class="govuk-table__caption govuk-table__caption--m">${d.address}</caption>
    <thead class="govuk-table__head"><tr class="govuk-table__row">
      <th scope="col" class="govuk-table__header">Name</th>
      <th scope="col" class="govuk-table__header">Date of birth</th>
      <th scope="col" class="govuk-table__header">Agencies involved</th>
    </tr></thead>
    <tbody class="govuk-table__body">
      ${d.people.map((p) => html`<tr class="govuk-table__row">
        <th scope="row" class="govuk-table__header"><a class="govuk-link" href="#/person/${encodeURIComponent(p.person_id)}">${p.name}</a></th>
        <td class="govuk-table__cell" data-label="Date of birth">${p.date_of_birth ? longDate(p.date_of_birth) : "Not known"}</td>
        <td class="govuk-table__cell" data-label="Agencies involved">${agenciesCell(p)}</td>
      </tr>`)}
    </tbody></table>`)}`;
}

function people(result) {
  return html`<table class="govuk-table mast-wrap" id="results">
      <caption class="govuk-table__caption govuk-table__caption--s govuk-visually-hidden">Possible people, best match first</caption>
      <thead class="govuk-table__head"><tr class="govuk-table__row">
        <th scope="col" class="govuk-table__header">Name</th>
        <th scope="col" class="govuk-table__header">Date of birth</th>
        <th scope="col" class="govuk-table__header">Postcode district</th>
        <th scope="col" class="govuk-table__header">Confidence</th>
        <th scope="col" class="govuk-table__header">Why it matched</th>
      </tr></thead>
      <tbody class="govuk-table__body">
        ${result.people.map((p, i) => html`<tr class="govuk-table__row">
          <th scope="row" class="govuk-table__header"><a class="govuk-link" href="#/person/${encodeURIComponent(p.person_id)}">${p.name}</a></th>
          <td class="govuk-table__cell" data-label="Date of birth">${p.date_of_birth ? longDate(p.date_of_birth) : "Not known"}</td>
          <td class="govuk-table__cell" data-label="Postcode district">${p.postcode_district || "Not known"}</td>
          <td class="govuk-table__cell" data-label="Confidence">${band(p)}</td>
          <td class="govuk-table__cell govuk-body-s" data-label="Why it matched">${why(p, i)}</td>
        </tr>`)}
      </tbody></table>`;
}

export async function resultsPage({ navigate }) {
  const render = renderer();
  const stored = session.search;
  if (!stored) { navigate("declaration"); return; }
  const { result } = stored;
  const count = result.people.length + result.left_out;
  const byDwelling = result.kind === "address" && result.dwellings && result.dwellings.length;
  const heading = !count ? "No one found"
    : byDwelling ? `${count} ${count === 1 ? "person" : "people"} found at ${result.dwellings.length === 1 ? "1 address" : `${result.dwellings.length} addresses`}`
    : `${count} possible ${count === 1 ? "person" : "people"} found for the last 12 months`;
  const coverage = await coverageLine();
  const again = html`<p class="govuk-body"><a class="govuk-link" href="#/search">Search again under the same declaration</a></p>
    <p class="govuk-body"><a class="govuk-link" href="#/declaration">Change the declaration</a></p>`;
  if (!count) {
    render(heading, html`
      <h1 class="govuk-heading-l">${heading}</h1>
      <p class="govuk-body">No agency in MAST has a record that matches your search. This does not mean no agency is involved: MAST holds only the partners' data listed below, and a feed that is overdue or sample only may be missing records.</p>
      ${result.too_common ? html`<div class="govuk-inset-text" id="too-common">${result.narrow || "Part of your search is shared by too many records to read them all. Add a date of birth or a postcode and search again."}</div>` : ""}
      ${!result.too_common && (result.other_years || result.unread) ? html`<div class="govuk-inset-text" id="${result.unread ? "not-read" : "other-years"}">${result.narrow}</div>` : ""}
      ${coverage}
      ${again}`);
    return;
  }
  render(heading, html`
    <h1 class="govuk-heading-l">${heading}</h1>
    <p class="govuk-body">Choose the person you are looking for to see each agency's involvement: open cases whatever their start, and records of the last 12 months. Check the date of birth and postcode district before you choose.</p>
    ${result.too_common ? html`<div class="govuk-inset-text" id="too-common">${result.narrow || "Part of your search is shared by too many records to read them all (a very common name, or a postcode with very many people). Add a date of birth or a postcode to be sure no one is missed."}</div>` : ""}
    ${!result.too_common && (result.other_years || result.unread) ? html`<div class="govuk-inset-text" id="${result.unread ? "not-read" : "other-years"}">${result.narrow}</div>` : ""}
    ${result.left_out ? html`<div class="govuk-inset-text" id="left-out">More than ${result.people.length} people match: ${count} in all. The ${result.people.length} best matches are shown and ${result.left_out} are not. Add a date of birth or a postcode to narrow the search.</div>` : ""}
    ${byDwelling ? dwellings(result) : people(result)}
    ${coverage}
    ${again}`);
}
