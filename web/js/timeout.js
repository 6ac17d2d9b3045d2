// Sign-out after inactivity, with a warning first (the GOV.UK timeout-warning pattern): a modal
// dialog says when, "Stay signed in" restarts the clock, and at the end the session is cleared.
import { html } from "./html.js";
import { session } from "./session.js";

export const IDLE_MS = 15 * 60 * 1000;
export const WARNING_MS = 2 * 60 * 1000;

let warnTimer = null;
let endTimer = null;
let listening = false;

function dialog() { return document.getElementById("timeout-dialog"); }

function onActivity() {
  if (!dialog().open) schedule();
}

function schedule() {
  clearTimeout(warnTimer);
  clearTimeout(endTimer);
  warnTimer = setTimeout(warn, IDLE_MS - WARNING_MS);
  endTimer = setTimeout(expire, IDLE_MS);
}

function warn() {
  const box = dialog();
  box.innerHTML = String(html`<h2 class="govuk-heading-m" id="timeout-heading">You’re about to be signed out</h2>
    <p class="govuk-body" id="timeout-message">For your security, we will sign you out in ${Math.round(WARNING_MS / 60000)} minutes if you do nothing. Anything you have not submitted will be lost.</p>
    <div class="govuk-button-group">
      <button type="button" class="govuk-button" data-module="govuk-button" id="stay-signed-in">Stay signed in</button>
      <a class="govuk-link" href="#/sign-out" id="timeout-sign-out">Sign out</a>
    </div>`);
  box.querySelector("#stay-signed-in").addEventListener("click", () => { box.close(); schedule(); });
  box.querySelector("#timeout-sign-out").addEventListener("click", () => box.close());
  box.addEventListener("cancel", (event) => { event.preventDefault(); box.close(); schedule(); }, { once: true });
  box.showModal();
}

function expire() {
  const box = dialog();
  if (box.open) box.close();
  stopInactivityTimer();
  session.clear();
  window.location.hash = "#/signed-out?reason=inactive";
}

export function startInactivityTimer() {
  if (!listening) {
    ["keydown", "pointerdown"].forEach((type) => document.addEventListener(type, onActivity, { passive: true, capture: true }));
    listening = true;
    schedule();
  }
}

export function stopInactivityTimer() {
  clearTimeout(warnTimer);
  clearTimeout(endTimer);
  if (listening) {
    ["keydown", "pointerdown"].forEach((type) => document.removeEventListener(type, onActivity, { capture: true }));
    listening = false;
  }
}
