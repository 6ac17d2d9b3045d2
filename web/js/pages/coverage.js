// The coverage line: which partners' feeds MAST holds, whether each is live or still a sample, and
// when each last sent data, flagged when that is older than the feed's cadence (overdue), so that
// "no record" is never read as "no involvement".
import { api } from "../api.js";
import { html } from "../html.js";
import { longDate } from "../ui.js";

export async function coverageLine() {
  const { feeds } = await api("GET", "/coverage");
  return html`<div class="govuk-inset-text" id="coverage">
    <h2 class="govuk-heading-s">What MAST holds</h2>
    <ul class="govuk-list">
      ${feeds.map((f) => html`<li><strong>${f.partner_name}, ${f.name}</strong>: ${f.state === "live" ? "live" : "sample only, not complete"}; ${f.last_accepted ? html`last data ${longDate(f.last_accepted)}` : "no data received yet"}${f.overdue && f.last_accepted ? html` <strong class="govuk-tag govuk-tag--orange">Overdue</strong> <span class="govuk-body-s">(due every ${f.cadence_days === 1 ? "day" : `${f.cadence_days} days`})</span>` : ""}</li>`)}
    </ul>
  </div>`;
}
