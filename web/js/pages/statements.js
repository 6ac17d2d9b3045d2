// The privacy notice and the accessibility statement: static text, public.
import { html } from "../html.js";
import { renderer } from "../ui.js";

export async function privacyPage() {
  const render = renderer();
  render("Privacy", html`
    <h1 class="govuk-heading-l">Privacy</h1>
    <p class="govuk-body-l">How MAST, the Multi Agency Safeguarding Tracker, uses personal information.</p>
    <h2 class="govuk-heading-m">What MAST holds</h2>
    <p class="govuk-body">Partner organisations (the council's adults' and children's social care, the NHS trust's emergency department, the police and the fire and rescue service) send MAST a daily extract holding only headline data about the people they are involved with: name, date of birth, address, the date of the incident or involvement, and whom to contact. MAST holds no case notes.</p>
    <h2 class="govuk-heading-m">Why</h2>
    <p class="govuk-body">So that a safeguarding professional can see, in one search, whether other agencies are involved with a person or an address, and whom to call. The legal bases are those the practitioner declares before each search, for example the Children Act 1989, the Children Act 2004, the Care Act 2014, the Crime and Disorder Act 1998, and Article 6(1)(e) and Article 9(2)(g) of the UK GDPR with Schedule 1 paragraph 18 of the Data Protection Act 2018.</p>
    <h2 class="govuk-heading-m">Who can see it</h2>
    <p class="govuk-body">Only staff of partner organisations whose access their organisation's administrator approved, after signing in with a password and a security code. Searches show the last 12 months. Records marked sensitive show only the partner, the date and whom to contact.</p>
    <h2 class="govuk-heading-m">How long it is kept</h2>
    <p class="govuk-body">Records are kept for 3 years for analysis of trends, then deleted. The original files partners send are deleted within days.</p>
    <h2 class="govuk-heading-m">The audit</h2>
    <p class="govuk-body">Every search, every person opened and every administrative action is recorded with who did it, when, under which legal gateway and for what purpose. The audit is kept for at least 6 years, cannot be changed, and is reviewed by the partnership's information governance leads.</p>
    <h2 class="govuk-heading-m">Your rights</h2>
    <p class="govuk-body">You can ask any partner organisation for the information it holds about you, and complain to the Information Commissioner's Office if you are unhappy with how it is used.</p>
    <h2 class="govuk-heading-m">Cookies and storage</h2>
    <p class="govuk-body">MAST sets no cookies. While you are signed in, your browser tab keeps your sign-in tokens, your declaration and your last search in session storage, which is cleared when you sign out or close the tab.</p>`);
}

export async function accessibilityPage() {
  const render = renderer();
  render("Accessibility statement", html`
    <h1 class="govuk-heading-l">Accessibility statement for MAST</h1>
    <p class="govuk-body">This statement applies to the MAST web page. We want as many people as possible to be able to use it. You should be able to:</p>
    <ul class="govuk-list govuk-list--bullet">
      <li>change colours, contrast levels and fonts using browser or device settings</li>
      <li>zoom in up to 400% without the text spilling off the screen</li>
      <li>navigate the whole service using just a keyboard</li>
      <li>navigate it using speech recognition software</li>
      <li>listen to it using a screen reader</li>
    </ul>
    <p class="govuk-body">MAST is built with the GOV.UK Design System's components and patterns, in Arial.</p>
    <h2 class="govuk-heading-m">How accessible MAST is</h2>
    <p class="govuk-body">Every page, and each state of it a practitioner meets (search results, a person, the people at their address, no one found, the print layout), is checked automatically against the Web Content Accessibility Guidelines version 2.2 AA with axe-core each time the software changes. In the same tests every page is shown 320 CSS pixels wide (a phone, or 400% zoom on a desktop) and must not scroll sideways, and a search is completed with the keyboard alone.</p>
    <p class="govuk-body">Automated checks do not find every problem. MAST has not yet been tried by disabled people, or with screen readers and speech recognition software, and has not been audited by specialists. We know of these limitations:</p>
    <ul class="govuk-list govuk-list--bullet">
      <li>the linkage report's chart is a picture: its figures are given to screen readers as its description, not as a table</li>
      <li>a printed summary follows the browser's own print settings for text size</li>
    </ul>
    <p class="govuk-body">Setting up the security code needs an authenticator app. If you cannot scan the QR code, type the secret key shown beside it into the app instead.</p>
    <h2 class="govuk-heading-m">Reporting problems</h2>
    <p class="govuk-body">If you find a problem with the accessibility of MAST, or need information in a different format, tell your organisation's MAST administrator, who will pass it to the partnership.</p>
    <h2 class="govuk-heading-m">Enforcement procedure</h2>
    <p class="govuk-body">The Equality and Human Rights Commission is responsible for enforcing the Public Sector Bodies (Websites and Mobile Applications) (No. 2) Accessibility Regulations 2018. If you are not happy with how we respond to your complaint, contact the Equality Advisory and Support Service.</p>
    <h2 class="govuk-heading-m">Technical information</h2>
    <p class="govuk-body">MAST aims to be fully compliant with the Web Content Accessibility Guidelines version 2.2 AA standard.</p>
    <p class="govuk-body">This statement was prepared on 25 November 2026 and last reviewed on 4 December 2026.</p>`);
}
