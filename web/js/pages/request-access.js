// Request access (public): name, email, organisation, role and reason; an administrator of that
// organisation approves or refuses it, and an approved user is sent a temporary password.
import { api, ApiError } from "../api.js";
import { html } from "../html.js";
import { organisations } from "../organisations.js";
import { renderer, errorSummary, textInput, radios, textarea, button, formValues } from "../ui.js";

const FIELDS = { name: "name", email: "email", organisation: "organisation", role: "role", reason: "reason" };

export async function requestAccessPage() {
  const render = renderer();
  const orgs = await organisations();
  const show = (errors = [], values = {}) => {
    const main = render("Request access to MAST", html`
      ${errorSummary(errors)}
      <h1 class="govuk-heading-l">Request access to MAST</h1>
      <p class="govuk-body">An administrator of your organisation will check your request. If they approve it, you will get an email with a temporary password.</p>
      <form novalidate>
        ${textInput({ id: "name", label: "Full name", value: values.name, errors, autocomplete: "name", spellcheck: false, labelClass: "govuk-label govuk-label--s" })}
        ${textInput({ id: "email", label: "Work email address", type: "email", value: values.email, errors, autocomplete: "email", spellcheck: false, labelClass: "govuk-label govuk-label--s" })}
        ${radios({ id: "organisation", legend: "Organisation", legendClass: "govuk-fieldset__legend--s", errors, value: values.organisation,
          items: orgs.map((o) => ({ value: o.id, text: o.name })) })}
        ${radios({ id: "role", legend: "What do you need to do?", legendClass: "govuk-fieldset__legend--s", errors, value: values.role, items: [
          { value: "practitioner", text: "Search for people and addresses", hint: "For safeguarding practitioners" },
          { value: "org-admin", text: "Manage my organisation's users and review its audit", hint: "For organisation administrators" },
        ] })}
        ${textarea({ id: "reason", label: "Why you need access", hint: "Your role and team, for example 'Social worker, MASH team'", value: values.reason, errors })}
        ${button("Send request")}
      </form>`, { errors });
    main.querySelector("form").addEventListener("submit", async (event) => {
      event.preventDefault();
      const v = formValues(event.target);
      const problems = [];
      if (!v.name) problems.push({ field: "name", text: "Enter your full name" });
      else if (v.name.length > 200) problems.push({ field: "name", text: "Your name must be 200 characters or fewer" });
      if (!v.email) problems.push({ field: "email", text: "Enter your work email address" });
      else if (!/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(v.email) || v.email.length > 254) problems.push({ field: "email", text: "Enter an email address in the correct format, like name@example.org" });
      if (!v.organisation) problems.push({ field: "organisation", text: "Select your organisation" });
      if (!v.role) problems.push({ field: "role", text: "Select what you need to do" });
      if (!v.reason) problems.push({ field: "reason", text: "Enter why you need access" });
      else if (v.reason.length > 1000) problems.push({ field: "reason", text: "The reason must be 1000 characters or fewer" });
      if (problems.length) { show(problems, v); return; }
      try {
        await api("POST", "/access-requests", { anonymous: true, body: { name: v.name, email: v.email, organisation: v.organisation, role: v.role, reason: v.reason } });
      } catch (error) {
        if (!(error instanceof ApiError)) throw error;
        const text = error.status === 429 ? "Too many requests have been sent. Try again later" : error.message;
        const fieldErrors = error.status === 400 ? error.fieldErrors(FIELDS) : [];
        show(fieldErrors.length ? fieldErrors : [{ field: "name", text }], v);
        return;
      }
      render("Request sent", html`<div class="govuk-panel govuk-panel--confirmation">
          <h1 class="govuk-panel__title">Request sent</h1>
          <div class="govuk-panel__body">An administrator of your organisation will review it</div>
        </div>
        <p class="govuk-body">If they approve it, we will email ${v.email} a temporary password. The first time you sign in you will choose a new password and set up a security code app.</p>
        <p class="govuk-body"><a class="govuk-link" href="#/sign-in">Go to sign in</a></p>`);
    });
  };
  show();
}
