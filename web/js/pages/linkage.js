// The linkage report: how many people each partner knows (a bar chart drawn here as SVG), how many
// are known to more than one, and which partners share people (a table): each drawn once, partners
// by their names (from the partnership's organisations), no label clipped.
import { api, ApiError } from "../api.js";
import { html } from "../html.js";
import { organisations } from "../organisations.js";
import { renderer, table, summaryList, dateTime, longDate } from "../ui.js";

/** Room for a label of `text` at the chart's 16px Arial: 0.6em a character covers capitals and digits. */
function textWidth(text) { return Math.ceil(String(text).length * 16 * 0.6); }

/**
 * A horizontal bar chart as SVG markup; labels and values are escaped by html``. The label column
 * is as wide as the longest label and the value column as wide as the largest value, so no text is
 * clipped by the viewBox.
 */
export function barChart(id, title, rows) {
  const barHeight = 28, gap = 12, barRoom = 360;
  const labelWidth = Math.max(80, ...rows.map((r) => textWidth(r.label))) + 16;
  const valueWidth = Math.max(...rows.map((r) => textWidth(Number(r.value).toLocaleString("en-GB"))), 24) + 16;
  const width = labelWidth + barRoom + valueWidth;
  const height = rows.length * (barHeight + gap) + gap;
  const max = Math.max(1, ...rows.map((r) => r.value));
  const scale = barRoom / max;
  return html`<svg class="mast-chart" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" role="img" aria-labelledby="${id}-title ${id}-desc" id="${id}" focusable="false">
    <title id="${id}-title">${title}</title>
    <desc id="${id}-desc">${rows.map((r) => `${r.label}: ${Number(r.value).toLocaleString("en-GB")}`).join("; ")}</desc>
    <line class="mast-chart__axis" x1="${labelWidth}" y1="0" x2="${labelWidth}" y2="${height}"></line>
    ${rows.map((r, i) => {
      const y = gap + i * (barHeight + gap);
      const w = Math.max(1, Math.round(r.value * scale));
      return html`<g>
        <text class="mast-chart__label" x="${labelWidth - 8}" y="${y + barHeight / 2}" text-anchor="end" dominant-baseline="middle">${r.label}</text>
        <rect class="mast-chart__bar" x="${labelWidth}" y="${y}" width="${w}" height="${barHeight}"></rect>
        <text class="mast-chart__label" x="${labelWidth + w + 8}" y="${y + barHeight / 2}" dominant-baseline="middle">${Number(r.value).toLocaleString("en-GB")}</text>
      </g>`;
    })}
  </svg>`;
}

const count = (n) => Number(n).toLocaleString("en-GB");
const signed = (n) => (n > 0 ? `+${count(n)}` : count(n));

/** The week's change in people each pair of partners shares (net: newly linked, less any who left).
 * A summary list, not a table: the page's one table is the partner-pair table. */
function newOverlaps(overlaps, name) {
  if (!overlaps) return html`<p class="govuk-body" id="weekly-change">There is no report from a week before to compare with yet.</p>`;
  return html`<p class="govuk-body">Compared with the report of ${longDate(overlaps.since)}: people known to more than one partner ${signed(overlaps.people_known_to_more_than_one_partner)}.
      Each figure is the week's net change: people newly linked across the pair, less any who left it (retention, a partner leaving, a steward's split).</p>
    <dl class="govuk-summary-list mast-wrap" id="weekly-change">
      ${overlaps.pairs.map((p) => html`<div class="govuk-summary-list__row"><dt class="govuk-summary-list__key">${p.partners.map(name).join(" and ")}</dt>
        <dd class="govuk-summary-list__value">${signed(p.new)} new (${count(p.week_before)} a week before, ${count(p.people)} now)</dd></div>`)}
    </dl>`;
}

/** Feeds whose data is older than their cadence, by the rule coverage and the Alerts page use. */
function overdueFeeds(feeds) {
  if (!feeds.length) return html`<p class="govuk-body" id="overdue-list">Every feed has sent data within its cadence.</p>`;
  return html`<dl class="govuk-summary-list mast-wrap" id="overdue-list">
    ${feeds.map((f) => html`<div class="govuk-summary-list__row"><dt class="govuk-summary-list__key">${f.name} (${f.partner_name})</dt>
      <dd class="govuk-summary-list__value">${f.last_accepted ? html`Last data ${longDate(f.last_accepted)}` : "No data received yet"}; due every ${f.cadence_days === 1 ? "day" : `${f.cadence_days} days`}</dd></div>`)}
  </dl>`;
}

export async function linkagePage() {
  const render = renderer();
  let report;
  try {
    report = await api("GET", "/linkage-report");
  } catch (error) {
    if (!(error instanceof ApiError)) throw error;
    render("Linkage report", html`<h1 class="govuk-heading-l">Linkage report</h1>
      <p class="govuk-body">${error.status === 404 ? "There is no linkage report yet: it is written after the first link of partner data." : error.message}</p>`);
    return;
  }
  const names = Object.fromEntries((await organisations()).map((o) => [o.id, o.name]));
  const name = (id) => names[id] || id;
  const pairs = report.people_shared_between_partners || [];
  const perPartner = Object.entries(report.people_per_partner || {});
  render("Linkage report", html`
    <h1 class="govuk-heading-l">Linkage report</h1>
    <p class="govuk-body">Counts only: how the partners' records link into people and addresses${report.generated_at ? html`, as of ${dateTime(report.generated_at)}` : ""}.</p>
    ${summaryList([
      ["Records", report.records], ["People", report.people], ["Addresses", report.addresses],
      ["People known to more than one partner", report.people_known_to_more_than_one_partner],
      ["Addresses with more than one partner", report.addresses_with_more_than_one_partner],
      [`Addresses with ${report.repeat_threshold} or more records`, report.addresses_with_repeated_records],
    ])}
    <h2 class="govuk-heading-m">People each partner knows</h2>
    ${barChart("partners-chart", "People each partner knows", perPartner.map(([id, value]) => ({ label: name(id), value })))}
    ${table({ caption: "People shared between partners", head: ["Partners", "People known to both"], numeric: [1],
      rows: pairs.map((p) => [p.partners.map(name).join(" and "), Number(p.people).toLocaleString("en-GB")]) })}
    <h2 class="govuk-heading-m" id="new-overlaps">New overlaps since the previous week</h2>
    ${newOverlaps(report.new_overlaps, name)}
    <h2 class="govuk-heading-m" id="overdue-feeds">Overdue feeds</h2>
    ${overdueFeeds(report.overdue_feeds || [])}
  `);
}
