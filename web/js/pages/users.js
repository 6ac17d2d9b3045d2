// Users (org-admins): the users of their own organisation, add, edit, disable and re-enable them,
// and the access requests waiting for a decision. The API refuses anything outside the
// administrator's organisation; auditors and data stewards are granted by the operator only.
import { api, ApiError } from "../api.js";
import { html } from "../html.js";
import { organisationName } from "../organisations.js";
import { session } from "../session.js";
import { renderer, errorSummary, textInput, textarea, radios, button, formValues, notification, backLink, dateTime } from "../ui.js";

const PERMISSIONS = { practitioners: "Practitioner", "org-admins": "Organisation administrator", auditors: "Auditor", "data-stewards": "Data steward" };
const ROLES = { practitioner: "Practitioner", "org-admin": "Organisation administrator" };
const GROUP_ITEMS = [
  { value: "practitioners", text: "Practitioner", hint: "Searches for people and addresses" },
  { value: "org-admins", text: "Organisation administrator", hint: "Manages this organisation's users and reviews its audit" },
];

// Each administrator's action that changes who may sign in: confirmed on its own page, with a reason
// that is kept in the audit. `kind` is the address's: #/user-action/<kind>/<id>.
const ACTIONS = {
  approve: { title: (x) => `Approve access for ${x.name}`, yes: "Yes, approve access", warning: false, list: "requests",
    path: (id) => `/access-requests/${encodeURIComponent(id)}/approve`, hint: "For example, the role they are joining in. This is kept in the audit.",
    done: (x) => `Access approved: ${x.email} has been sent an invitation with a temporary password` },
  refuse: { title: (x) => `Refuse access for ${x.name}`, yes: "Yes, refuse access", warning: true, list: "requests",
    path: (id) => `/access-requests/${encodeURIComponent(id)}/refuse`, hint: "For example, they do not work in a safeguarding role. This is kept in the audit.",
    done: (x) => `Access refused for ${x.email}` },
  disable: { title: (x) => `Disable ${x.name || x.email}`, yes: "Yes, disable", warning: true, list: "users",
    path: (id) => `/users/${encodeURIComponent(id)}/disable`, hint: "For example, they have left the organisation. This is kept in the audit.",
    done: (x) => `${x.email} is disabled and can no longer sign in` },
  enable: { title: (x) => `Enable ${x.name || x.email} again`, yes: "Yes, enable", warning: false, list: "users",
    path: (id) => `/users/${encodeURIComponent(id)}/enable`, hint: "For example, they have returned from leave. This is kept in the audit.",
    done: (x) => `${x.email} is enabled again` },
};

function status(user) {
  if (!user.enabled) return html`<strong class="govuk-tag govuk-tag--grey">Disabled</strong>`;
  if (user.status === "FORCE_CHANGE_PASSWORD") return html`<strong class="govuk-tag govuk-tag--blue">Invited</strong>`;
  return html`<strong class="govuk-tag govuk-tag--green">Active</strong>`;
}

function permission(user) {
  return user.groups.map((g) => PERMISSIONS[g] || g).join(", ") || "None";
}

async function act(navigate, call, message) {
  try {
    await call();
    session.notice = message;
  } catch (error) {
    if (!(error instanceof ApiError)) throw error;
    session.notice = { error: error.message };
  }
  navigate("users");
}

export async function usersPage({ navigate, user: me }) {
  const render = renderer();
  const [{ users }, { requests }, review] = await Promise.all([api("GET", "/users"), api("GET", "/access-requests", { query: { status: "pending" } }), api("GET", "/access-reviews")]);
  const reviewed = users.filter((u) => u.enabled && u.manageable);
  const organisation = await organisationName(me.organisation);
  const notice = session.takeNotice();
  const errors = notice && notice.error ? [{ text: notice.error }] : [];
  const main = render("Users", html`
    ${notice && !notice.error ? notification(notice, { success: true }) : ""}
    ${errorSummary(errors)}
    <span class="govuk-caption-l">${organisation}</span>
    <h1 class="govuk-heading-l">Users</h1>
    <h2 class="govuk-heading-m">Access requests</h2>
    ${requests.length ? html`<table class="govuk-table" id="access-requests">
      <caption class="govuk-table__caption govuk-visually-hidden">Access requests waiting for a decision</caption>
      <thead class="govuk-table__head"><tr class="govuk-table__row">
        <th scope="col" class="govuk-table__header">Name and email</th>
        <th scope="col" class="govuk-table__header">Asked for</th>
        <th scope="col" class="govuk-table__header">Reason</th>
        <th scope="col" class="govuk-table__header">Sent</th>
        <th scope="col" class="govuk-table__header">Decision</th>
      </tr></thead>
      <tbody class="govuk-table__body">
        ${requests.map((r) => html`<tr class="govuk-table__row">
          <td class="govuk-table__cell">${r.name}<br>${r.email}</td>
          <td class="govuk-table__cell">${ROLES[r.role] || r.role}</td>
          <td class="govuk-table__cell">${r.reason}</td>
          <td class="govuk-table__cell">${dateTime(r.submitted)}</td>
          <td class="govuk-table__cell"><div class="govuk-button-group">
            <a href="#/user-action/approve/${encodeURIComponent(r.id)}" role="button" draggable="false" class="govuk-button govuk-!-margin-bottom-1" data-module="govuk-button">Approve<span class="govuk-visually-hidden"> ${r.name}</span></a>
            <a href="#/user-action/refuse/${encodeURIComponent(r.id)}" role="button" draggable="false" class="govuk-button govuk-button--warning govuk-!-margin-bottom-1" data-module="govuk-button">Refuse<span class="govuk-visually-hidden"> ${r.name}</span></a>
          </div></td>
        </tr>`)}
      </tbody></table>` : html`<p class="govuk-body">No access requests are waiting.</p>`}
    <h2 class="govuk-heading-m">Users of ${organisation}</h2>
    <div class="govuk-inset-text" id="access-review">
      ${review.reviewed_at ? html`<p class="govuk-body">Access last confirmed on ${dateTime(review.reviewed_at)} by ${review.reviewed_by} (${review.users_confirmed} users). ${review.overdue ? html`<strong>The next review is due now.</strong>` : html`Next review due by ${dateTime(review.due)}.`}</p>`
        : html`<p class="govuk-body"><strong>Nobody has yet confirmed that these users still need access.</strong> Review them every 90 days.</p>`}
      <p class="govuk-body">Check the list below. Disable anyone who no longer needs MAST, then confirm the rest.</p>
      <button type="button" class="govuk-button govuk-button--secondary govuk-!-margin-bottom-0" data-module="govuk-button" id="confirm-access">Confirm these ${reviewed.length} users still need access</button>
    </div>
    <a href="#/add-user" role="button" draggable="false" class="govuk-button govuk-button--secondary" data-module="govuk-button">Add a user</a>
    <table class="govuk-table" id="users">
      <caption class="govuk-table__caption govuk-visually-hidden">Users of ${organisation}</caption>
      <thead class="govuk-table__head"><tr class="govuk-table__row">
        <th scope="col" class="govuk-table__header">Name</th>
        <th scope="col" class="govuk-table__header">Email</th>
        <th scope="col" class="govuk-table__header">Permission</th>
        <th scope="col" class="govuk-table__header">Status</th>
        <th scope="col" class="govuk-table__header">Last used MAST</th>
        <th scope="col" class="govuk-table__header">Actions</th>
      </tr></thead>
      <tbody class="govuk-table__body">
        ${users.map((u) => html`<tr class="govuk-table__row">
          <td class="govuk-table__cell">${u.name || ""}</td>
          <td class="govuk-table__cell">${u.email}</td>
          <td class="govuk-table__cell">${permission(u)}</td>
          <td class="govuk-table__cell">${status(u)}</td>
          <td class="govuk-table__cell">${u.last_active ? dateTime(u.last_active) : "Not in the last 90 days"}</td>
          <td class="govuk-table__cell">${!u.manageable ? "Granted by the operator" : u.is_you ? html`<a class="govuk-link" href="#/edit-user/${encodeURIComponent(u.id)}">Edit<span class="govuk-visually-hidden"> ${u.name || u.email}</span></a><br><span class="govuk-body-s">This is you: another administrator can disable your account</span>`
            : html`<a class="govuk-link" href="#/edit-user/${encodeURIComponent(u.id)}">Edit<span class="govuk-visually-hidden"> ${u.name || u.email}</span></a>
            <a href="#/user-action/${u.enabled ? "disable" : "enable"}/${encodeURIComponent(u.id)}" role="button" draggable="false" class="govuk-button govuk-button--secondary govuk-!-margin-bottom-0 govuk-!-margin-left-2" data-module="govuk-button">${u.enabled ? "Disable" : "Enable"}<span class="govuk-visually-hidden"> ${u.name || u.email}</span></a>
            ${u.enabled && u.status === "FORCE_CHANGE_PASSWORD" ? html`<button type="button" class="govuk-button govuk-button--secondary govuk-!-margin-bottom-0 govuk-!-margin-left-2" data-module="govuk-button" data-resend="${u.id}">Send the invitation again<span class="govuk-visually-hidden"> to ${u.email}</span></button>` : ""}`}</td>
        </tr>`)}
      </tbody>
    </table>`, { errors });
  const find = (id) => users.find((u) => u.id === id) || {};
  main.querySelector("#confirm-access").addEventListener("click", () => act(navigate,
    () => api("POST", "/access-reviews", { body: { users: reviewed.map((u) => u.id) } }),
    `You have confirmed that ${reviewed.length} users still need access. The next review is due in 90 days`));
  main.querySelectorAll("[data-resend]").forEach((b) => b.addEventListener("click", () => act(navigate,
    () => api("POST", `/users/${encodeURIComponent(b.dataset.resend)}/resend`),
    `The invitation has been sent again to ${find(b.dataset.resend).email}, with a new temporary password`)));
}

/** Approve, refuse, disable or enable: a confirmation page asking for the reason (kept in the audit). */
export async function userActionPage({ params, navigate }) {
  const render = renderer();
  const [kind, id] = params;
  const action = ACTIONS[kind];
  const subject = !action ? null : action.list === "requests"
    ? (await api("GET", "/access-requests", { query: { status: "pending" } })).requests.find((r) => r.id === id)
    : (await api("GET", "/users")).users.find((u) => u.id === id && u.manageable && !u.is_you);
  if (!subject) {
    render("Not found", html`${backLink("#/users", "Back to users")}<h1 class="govuk-heading-l">Not found</h1>
      <p class="govuk-body">This request or user is not one you can act on: it may have been decided already, or it is your own account.</p>`);
    return;
  }
  const show = (errors = [], values = {}) => {
    const main = render(action.title(subject), html`${backLink("#/users", "Back to users")}
      ${errorSummary(errors)}
      <h1 class="govuk-heading-l">${action.title(subject)}</h1>
      <p class="govuk-body">${subject.name || ""} ${subject.email ? html`(${subject.email})` : ""}</p>
      <form novalidate id="user-action">
        ${textarea({ id: "reason", label: "Reason", hint: action.hint, value: values.reason, errors })}
        <div class="govuk-button-group">
          ${button(action.yes, { warning: action.warning })}
          <a class="govuk-link" href="#/users">Cancel</a>
        </div>
      </form>`, { errors });
    main.querySelector("#user-action").addEventListener("submit", async (event) => {
      event.preventDefault();
      const v = formValues(event.target);
      if (!v.reason) { show([{ field: "reason", text: "Enter the reason" }], v); return; }
      if (v.reason.length > 500) { show([{ field: "reason", text: "The reason must be 500 characters or fewer" }], v); return; }
      try {
        await api("POST", action.path(id), { body: { reason: v.reason } });
      } catch (error) {
        if (!(error instanceof ApiError)) throw error;
        show([{ field: "reason", text: error.message }], v);
        return;
      }
      session.notice = action.done(subject);
      navigate("users");
    });
  };
  show();
}

function userForm({ title, intro, values, errors, withEmail, submit }) {
  return html`${backLink("#/users", "Back to users")}
    ${errorSummary(errors)}
    <h1 class="govuk-heading-l">${title}</h1>
    ${intro ? html`<p class="govuk-body">${intro}</p>` : ""}
    <form novalidate>
      ${textInput({ id: "name", label: "Full name", value: values.name, errors, spellcheck: false, labelClass: "govuk-label govuk-label--s" })}
      ${withEmail ? textInput({ id: "email", label: "Work email address", type: "email", value: values.email, errors, spellcheck: false, labelClass: "govuk-label govuk-label--s" }) : ""}
      ${radios({ id: "group", legend: "Permission", legendClass: "govuk-fieldset__legend--s", items: GROUP_ITEMS, value: values.group, errors })}
      ${button(submit)}
    </form>`;
}

function check(v, withEmail) {
  const problems = [];
  if (!v.name) problems.push({ field: "name", text: "Enter the user's full name" });
  else if (v.name.length > 200) problems.push({ field: "name", text: "The name must be 200 characters or fewer" });
  if (withEmail) {
    if (!v.email) problems.push({ field: "email", text: "Enter the user's work email address" });
    else if (!/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(v.email) || v.email.length > 254) problems.push({ field: "email", text: "Enter an email address in the correct format, like name@example.org" });
  }
  if (!v.group) problems.push({ field: "group", text: "Select the user's permission" });
  return problems;
}

export async function addUserPage({ navigate }) {
  const render = renderer();
  const show = (errors = [], values = {}) => {
    const main = render("Add a user", userForm({ title: "Add a user", intro: "They will get an email with a temporary password. When they first sign in they choose a new password and set up a security code app.", values, errors, withEmail: true, submit: "Add user" }), { errors });
    main.querySelector("form").addEventListener("submit", async (event) => {
      event.preventDefault();
      const v = formValues(event.target);
      const problems = check(v, true);
      if (problems.length) { show(problems, v); return; }
      try {
        await api("POST", "/users", { body: { name: v.name, email: v.email, group: v.group } });
      } catch (error) {
        if (!(error instanceof ApiError)) throw error;
        const fieldErrors = error.fieldErrors({ name: "name", email: "email", group: "group" });
        show(fieldErrors.length ? fieldErrors : [{ field: "email", text: error.message }], v);
        return;
      }
      session.notice = `${v.email} has been added and sent an invitation with a temporary password`;
      navigate("users");
    });
  };
  show();
}

export async function editUserPage({ params, navigate }) {
  const render = renderer();
  const { users } = await api("GET", "/users");
  const user = users.find((u) => u.id === params[0]);
  if (!user || !user.manageable) {
    render("User not found", html`${backLink("#/users", "Back to users")}<h1 class="govuk-heading-l">User not found</h1>
      <p class="govuk-body">This user is not one you can change.</p>`);
    return;
  }
  const initial = { name: user.name || "", group: user.groups.includes("org-admins") ? "org-admins" : "practitioners" };
  const show = (errors = [], values = initial) => {
    const main = render(`Change ${user.email}`, userForm({ title: `Change ${user.email}`, values, errors, withEmail: false, submit: "Save changes" }), { errors });
    main.querySelector("form").addEventListener("submit", async (event) => {
      event.preventDefault();
      const v = formValues(event.target);
      const problems = check(v, false);
      if (problems.length) { show(problems, v); return; }
      try {
        await api("PATCH", `/users/${encodeURIComponent(user.id)}`, { body: { name: v.name, group: v.group } });
      } catch (error) {
        if (!(error instanceof ApiError)) throw error;
        const fieldErrors = error.fieldErrors({ name: "name", group: "group" });
        show(fieldErrors.length ? fieldErrors : [{ field: "name", text: error.message }], v);
        return;
      }
      session.notice = `${user.email} has been changed`;
      navigate("users");
    });
  };
  show();
}
