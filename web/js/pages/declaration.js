// The declaration before a search: the legal gateway (from the API's configured list), the
// purpose, and the misuse warning. The search page cannot be reached without it.
import { api } from "../api.js";
import { html } from "../html.js";
import { session } from "../session.js";
import { renderer, errorSummary, radios, textInput, textarea, button, formValues, warningText, notification } from "../ui.js";

export const MISUSE_WARNING = "Search only for the purpose you declare here. Every search and every record you open is recorded with your name, the legal gateway and the purpose, and is reviewed. Searching without a lawful reason is a disciplinary matter and can be a criminal offence under section 170 of the Data Protection Act 2018.";

export async function declarationPage({ navigate }) {
  const render = renderer();
  const { gateways } = await api("GET", "/declaration-options");
  const notice = session.takeNotice();
  const previous = session.declaration || {};
  const show = (errors = [], values = previous) => {
    const otherInput = (g) => textInput({ id: "gateway-other", label: "Name the legal basis", value: values.gateway_other, errors, labelClass: "govuk-label" });
    const main = render("Declare why you are searching", html`
      ${notice && !errors.length ? notification(notice) : ""}
      ${errorSummary(errors)}
      <h1 class="govuk-heading-l">Declare why you are searching</h1>
      <p class="govuk-body">Before you search, say which law allows you to share information about the people you are looking for and what the work is for. The declaration holds for each search you make for this piece of work, until you sign out or for 8 hours.</p>
      <form novalidate>
        ${radios({
          id: "gateway", legend: "Legal gateway", legendClass: "govuk-fieldset__legend--m",
          hint: "The law that allows this information to be shared with you",
          items: gateways.map((g) => ({ value: g.id, text: g.label, conditional: g.must_name ? otherInput(g) : null })),
          value: values.gateway, errors,
        })}
        ${textarea({ id: "purpose", label: "Purpose of the search", hint: "A case reference, or why you need to search, for example \u2018Section 47 enquiry, referral 12345\u2019", value: values.purpose, errors })}
        ${warningText(MISUSE_WARNING)}
        ${button("Confirm and continue")}
      </form>`, { errors });
    main.querySelector("form").addEventListener("submit", (event) => {
      event.preventDefault();
      const form = formValues(event.target);
      const chosen = gateways.find((g) => g.id === form.gateway);
      const declaration = { gateway: form.gateway || "", gateway_other: chosen && chosen.must_name ? form["gateway-other"] || "" : null, purpose: form.purpose || "" };
      const problems = [];
      if (!chosen) problems.push({ field: "gateway", text: "Select the legal gateway for this search" });
      else if (chosen.must_name && !declaration.gateway_other) problems.push({ field: "gateway-other", text: "Name the legal basis for this search" });
      else if (chosen.must_name && declaration.gateway_other.length > 300) problems.push({ field: "gateway-other", text: "The legal basis must be 300 characters or fewer" });
      if (!declaration.purpose) problems.push({ field: "purpose", text: "Enter the purpose of the search" });
      else if (declaration.purpose.length < 3) problems.push({ field: "purpose", text: "The purpose must be at least 3 characters" });
      else if (declaration.purpose.length > 500) problems.push({ field: "purpose", text: "The purpose must be 500 characters or fewer" });
      if (problems.length) { show(problems, declaration); return; }
      session.declaration = { ...declaration, label: chosen.label, made_at: Date.now() };
      const then = session.afterDeclaration;
      session.afterDeclaration = null;
      navigate(then || "search");
    });
  };
  show();
}
