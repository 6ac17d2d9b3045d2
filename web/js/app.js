// MAST's page: a hash router over plain modules, so the same files work from S3 and CloudFront
// with no server-side templating. Each route names who may see it; the API checks again.
import { ServiceNavigation } from "../dist/govuk-frontend.min.js";
import { SignedOut, whenSignedOut } from "./api.js";
import { config } from "./config.js";
import { html } from "./html.js";
import { session, currentUser, inGroup } from "./session.js";
import { startInactivityTimer, stopInactivityTimer } from "./timeout.js";
import { nextRoute, renderer } from "./ui.js";
import * as signIn from "./pages/signin.js";
import * as declaration from "./pages/declaration.js";
import * as search from "./pages/search.js";
import * as person from "./pages/person.js";
import * as linkage from "./pages/linkage.js";
import * as review from "./pages/review.js";
import * as audit from "./pages/audit.js";
import * as users from "./pages/users.js";
import * as requestAccess from "./pages/request-access.js";
import * as statements from "./pages/statements.js";
import * as alerts from "./pages/alerts.js";

const SEARCHERS = ["practitioners", "data-stewards"];

// path → { page, groups (any of; omitted: any signed-in user), public }
const ROUTES = {
  "sign-in": { page: signIn.signInPage, public: true },
  "new-password": { page: signIn.newPasswordPage, public: true },
  "set-up-mfa": { page: signIn.mfaSetupPage, public: true },
  "mfa": { page: signIn.mfaCodePage, public: true },
  "signed-out": { page: signIn.signedOutPage, public: true },
  "sign-out": { page: signIn.signOut, public: true },
  "request-access": { page: requestAccess.requestAccessPage, public: true },
  "privacy": { page: statements.privacyPage, public: true },
  "accessibility": { page: statements.accessibilityPage, public: true },
  "declaration": { page: declaration.declarationPage, groups: SEARCHERS },
  "search": { page: search.searchPage, groups: SEARCHERS },
  "results": { page: search.resultsPage, groups: SEARCHERS },
  "person": { page: person.personPage, groups: SEARCHERS },
  "alerts": { page: alerts.alertsPage, groups: ["practitioners", "org-admins"] },
  "linkage": { page: linkage.linkagePage, groups: ["org-admins", "auditors", "data-stewards"] },
  "review-queue": { page: review.reviewQueuePage, groups: ["data-stewards"] },
  "audit": { page: audit.auditPage, groups: ["org-admins", "auditors"] },
  "unusual-use": { page: audit.unusualUsePage, groups: ["auditors"] },
  "accesses": { page: audit.accessesPage, groups: ["org-admins"] },
  "subject-access": { page: audit.subjectAccessPage, groups: ["auditors"] },
  "users": { page: users.usersPage, groups: ["org-admins"] },
  "add-user": { page: users.addUserPage, groups: ["org-admins"] },
  "edit-user": { page: users.editUserPage, groups: ["org-admins"] },
  "user-action": { page: users.userActionPage, groups: ["org-admins"] },
};

export function navigate(path) {
  const target = `#/${path.replace(/^#?\/?/, "")}`;
  if (window.location.hash === target) route();
  else window.location.hash = target;
}

/** Where a signed-in user starts: the first thing their groups let them do. */
export function home(user) {
  if (inGroup(user, ...SEARCHERS)) return "declaration";
  if (inGroup(user, "org-admins")) return "users";
  if (inGroup(user, "auditors")) return "audit";
  return "signed-out";
}

function parseHash() {
  const hash = window.location.hash;
  if (!hash.startsWith("#/")) return null;
  const [path, query = ""] = hash.slice(2).split("?");
  const [name, ...rest] = path.split("/").map(decodeURIComponent);
  return { name: name || "", params: rest, query: new URLSearchParams(query) };
}

function navigation(user, current) {
  const items = [];
  if (user) {
    if (inGroup(user, ...SEARCHERS)) items.push({ href: "#/declaration", text: "Search", match: ["declaration", "search", "results", "person"] });
    if (inGroup(user, "practitioners", "org-admins")) items.push({ href: "#/alerts", text: "Alerts", match: ["alerts"] });
    if (inGroup(user, "org-admins", "auditors", "data-stewards")) items.push({ href: "#/linkage", text: "Linkage report", match: ["linkage"] });
    if (inGroup(user, "data-stewards")) items.push({ href: "#/review-queue", text: "Review queue", match: ["review-queue"] });
    if (inGroup(user, "org-admins", "auditors")) items.push({ href: "#/audit", text: "Audit", match: ["audit", "unusual-use", "accesses", "subject-access"] });
    if (inGroup(user, "org-admins")) items.push({ href: "#/users", text: "Users", match: ["users", "add-user", "edit-user", "user-action"] });
    items.push({ href: "#/sign-out", text: "Sign out", match: [] });
  }
  const holder = document.getElementById("service-navigation");
  holder.innerHTML = String(html`<section aria-label="Service information" class="govuk-service-navigation" data-module="govuk-service-navigation">
    <div class="govuk-width-container"><div class="govuk-service-navigation__container">
      <span class="govuk-service-navigation__service-name">
        <a href="#/" class="govuk-service-navigation__link">Multi Agency Safeguarding Tracker</a>
      </span>
      ${items.length ? html`<nav aria-label="Menu" class="govuk-service-navigation__wrapper">
        <button type="button" class="govuk-service-navigation__toggle govuk-js-service-navigation-toggle" aria-controls="navigation" hidden aria-hidden="true">Menu</button>
        <ul class="govuk-service-navigation__list" id="navigation">
          ${items.map((item) => {
            const active = item.match.includes(current);
            return html`<li class="govuk-service-navigation__item${active ? " govuk-service-navigation__item--active" : ""}">
              <a class="govuk-service-navigation__link" href="${item.href}"${active ? html` aria-current="true"` : ""}>${active ? html`<strong class="govuk-service-navigation__active-fallback">${item.text}</strong>` : item.text}</a></li>`;
          })}
        </ul></nav>` : ""}
    </div></div></section>`);
  const section = holder.querySelector(".govuk-service-navigation");
  if (items.length > 1) new ServiceNavigation(section);
}

/** The count of new alerts beside "Alerts", asked once the page itself has answered (a page whose
 * call ended the session asks nothing more). */
function alertCount(user) {
  if (!inGroup(user, "practitioners", "org-admins")) return;
  alerts.unseenCount().then((count) => {
    const link = document.querySelector('#service-navigation a[href="#/alerts"]');
    if (!link || !count || link.querySelector(".mast-nav-count")) return;
    link.insertAdjacentHTML("beforeend", String(html` <strong class="govuk-tag govuk-tag--red mast-nav-count">${count}<span class="govuk-visually-hidden"> new</span></strong>`));
  });
}

async function banner() {
  const settings = await config();
  const holder = document.getElementById("banner");
  holder.innerHTML = settings.local
    ? String(html`<div class="govuk-phase-banner"><p class="govuk-phase-banner__content">
        <strong class="govuk-tag govuk-phase-banner__content__tag">Local</strong>
        <span class="govuk-phase-banner__text">This is MAST running on one machine for trying and developing it. Never enter real people's data.</span>
      </p></div>`)
    : "";
}

async function route() {
  nextRoute();
  const render = renderer();
  const parsed = parseHash();
  const user = currentUser();
  if (!parsed || !parsed.name) {
    navigate(user ? home(user) : "sign-in");
    return;
  }
  const entry = ROUTES[parsed.name];
  navigation(user, parsed.name);
  if (!entry) {
    render("Page not found", html`<h1 class="govuk-heading-l">Page not found</h1>
      <p class="govuk-body">If you typed the web address, check it is correct.</p>
      <p class="govuk-body"><a class="govuk-link" href="#/">Go to the start</a></p>`);
    return;
  }
  if (!entry.public && !user) {
    navigate("sign-in");
    return;
  }
  if (user) startInactivityTimer(); else stopInactivityTimer();
  if (entry.groups && !inGroup(user, ...entry.groups)) {
    render("You cannot use this page", html`<h1 class="govuk-heading-l">You cannot use this page</h1>
      <p class="govuk-body">Your account does not have permission to use this part of MAST. If you need it, ask your organisation's MAST administrator.</p>
      <p class="govuk-body"><a class="govuk-link" href="#/${home(user)}">Go to your start page</a></p>`);
    return;
  }
  try {
    await entry.page({ params: parsed.params, query: parsed.query, user, navigate });
    if (user && !entry.public && currentUser()) alertCount(user);  // never on sign-out's own page
  } catch (error) {
    if (error instanceof SignedOut) return;
    render("Sorry, there is a problem", html`<h1 class="govuk-heading-l">Sorry, there is a problem with the service</h1>
      <p class="govuk-body">${error && error.message ? error.message : "Something went wrong."}</p>
      <p class="govuk-body"><a class="govuk-link" href="#/">Go to the start</a></p>`);
  }
}

whenSignedOut(() => {
  session.clear();
  stopInactivityTimer();
  session.notice = "Your session has ended. Sign in again to continue.";
  navigate("sign-in");
});

document.body.classList.add("js-enabled", "govuk-frontend-supported");
document.getElementById("skip-link").addEventListener("click", (event) => {
  event.preventDefault();
  document.getElementById("main-content").focus();
});
window.addEventListener("hashchange", route);
banner().catch(() => {});
route();

