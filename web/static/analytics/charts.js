// Three views of the same disclosure-controlled data: spend by street month by month (line),
// weekday × hour (a heat-map table) and a campaign's uplift by street (bars). A suppressed
// cell is a gap (null), never a zero. Each chart states what it drew in data-* attributes.

import { dateOnly, h, lang, number, showError, t, yen } from "/static/js/core.js";
import { compareValues, formatMeasure, WEEKDAYS } from "./labels.js";

const PALETTE = [
  "#0a7d4f", "#1d4ed8", "#b42318", "#8a5300", "#6d28d9", "#0e7490", "#be185d",
  "#4d7c0f", "#9a3412", "#334155", "#a16207", "#047857", "#7c2d12", "#1e3a8a",
];
const HEAT_BUCKETS = ["#e6f4ee", "#bfe3d1", "#8fcdb0", "#3e9c73", "#0a7d4f"];
const compact = new Intl.NumberFormat(lang === "en" ? "en-US" : "ja-JP", { notation: "compact", maximumFractionDigits: 1 });
const yenCents = new Intl.NumberFormat("ja-JP", { style: "currency", currency: "JPY", minimumFractionDigits: 2, maximumFractionDigits: 2 });
const HOURS = Array.from({ length: 24 }, (_, i) => i);
const TOKYO_MONTH = new Intl.DateTimeFormat("en-CA", { timeZone: "Asia/Tokyo", year: "numeric", month: "2-digit" });

/** This month in Tokyo ("2026-12"): its figures are still growing, so the chart says so. */
function monthInProgress() {
  return TOKYO_MONTH.format(new Date()).slice(0, 7);
}

function chartDefaults() {
  const { Chart } = window;
  Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
  Chart.defaults.color = "#44524b";
  Chart.defaults.animation = false;
}

/** Record what a chart drew, for people debugging and for the browser tests. */
function describeCanvas(canvas, labels, datasets) {
  const values = datasets.flatMap((d) => d.data);
  Object.assign(canvas.dataset, {
    ready: "true",
    labels: JSON.stringify(labels),
    series: JSON.stringify(datasets.map((d) => ({ label: d.label, data: d.data }))),
    points: String(values.filter((v) => typeof v === "number").length),
    gaps: String(values.filter((v) => v === null).length),
  });
}

function drawChart(canvas, config) {
  const { Chart } = window;
  Chart.getChart(canvas)?.destroy();
  return new Chart(canvas, config);
}

/** "Suppressed cells: n", and why when there are any. */
function suppressionNote(count, why) {
  const n = t("analytics.charts.suppressed_note", { n: number(count) });
  return count ? `${n} · ${why}` : n;
}

function setBusy(card, on) {
  card.setAttribute("aria-busy", String(on));
}

export function createCharts(ctx) {
  const $ = (id) => document.getElementById(id);
  let loaded = false;
  chartDefaults();

  // ---------------------------------------------------------------- street × month

  async function streetMonth() {
    const canvas = $("chart-street");
    const card = canvas.closest("section");
    const note = $("chart-street-note");
    $("chart-street-error").hidden = true;
    note.textContent = t("analytics.charts.loading");
    note.hidden = false;
    setBusy(card, true);
    try {
      const query = { measures: ["spend"], dimensions: ["shopping_street", "month"], filters: {}, mode: "threshold" };
      const answer = await ctx.api.post("/api/v1/analytics/query", query);
      const months = [...new Set(answer.rows.map((r) => r.month))].sort();
      // The month in progress: a dashed line into a hollow point, and 「（集計中）」 on its label.
      const current = months.indexOf(monthInProgress());
      const streets = [...new Set(answer.rows.map((r) => r.shopping_street ?? null))].sort((a, b) => compareValues("shopping_street", a, b));
      const datasets = streets.map((street, i) => {
        const data = months.map((month) => {
          const row = answer.rows.find((r) => (r.shopping_street ?? null) === street && r.month === month);
          return row && !row.suppressed && typeof row.spend === "number" ? row.spend : null;
        });
        const name = ctx.label("shopping_street", street);
        const hidden = data.every((v) => v === null);
        const colour = PALETTE[i % PALETTE.length];
        return {
          label: hidden ? t("analytics.charts.fully_suppressed", { name, k: ctx.k }) : name,
          data,
          borderColor: colour,
          backgroundColor: colour,
          spanGaps: false,
          pointRadius: 4,
          pointBackgroundColor: months.map((_, m) => (m === current ? "#ffffff" : colour)),
          segment: { borderDash: (part) => (part.p1DataIndex === current ? [6, 4] : undefined) },
        };
      });
      const labels = months.map((m, i) => (i === current
        ? t("analytics.charts.month_in_progress", { month: ctx.label("month", m) })
        : ctx.label("month", m)));
      canvas.dataset.inProgress = current >= 0 ? months[current] : "";
      drawChart(canvas, {
        type: "line",
        data: { labels, datasets },
        options: {
          responsive: true,
          maintainAspectRatio: false,
          plugins: {
            legend: { position: "bottom", labels: { boxWidth: 12 } },
            tooltip: { callbacks: { label: (item) => `${item.dataset.label}: ${yen(item.parsed.y)}` } },
          },
          scales: {
            x: { offset: true },
            y: { beginAtZero: true, ticks: { callback: (v) => yen(v) } },
          },
        },
      });
      describeCanvas(canvas, labels, datasets);
      note.textContent = suppressionNote(answer.suppressed, t("analytics.suppressed.tooltip", { k: ctx.k }));
    } catch (error) {
      note.hidden = true;
      showError($("chart-street-error"), ctx.describe(error));
    } finally {
      setBusy(card, false);
    }
  }

  // ---------------------------------------------------------------- weekday × hour

  async function heatmap() {
    const box = $("chart-heat");
    const card = box.closest("section");
    const note = $("chart-heat-note");
    const district = $("heat-district").value;
    const measure = $("heat-measure").value;
    $("chart-heat-error").hidden = true;
    note.textContent = t("analytics.charts.loading");
    note.hidden = false;
    setBusy(card, true);
    try {
      const query = {
        measures: [measure],
        dimensions: ["weekday", "hour"],
        filters: district ? { district: [district] } : {},
        mode: "threshold",
      };
      const answer = await ctx.api.post("/api/v1/analytics/query", query);
      const cells = new Map(answer.rows.map((r) => [`${r.weekday}:${r.hour}`, r]));
      const values = answer.rows.filter((r) => !r.suppressed && typeof r[measure] === "number").map((r) => r[measure]);
      const top = Math.max(1, ...values);
      const why = t("analytics.suppressed.tooltip", { k: ctx.k });
      const measureName = t(`analytics.measure.${measure}`);
      const head = h("tr", {}, h("td", { class: "an-heat-corner" }),
        HOURS.map((hour) => h("th", { scope: "col", title: ctx.label("hour", hour) }, String(hour))));
      const body = WEEKDAYS.map((day) => h("tr", {},
        h("th", { scope: "row" }, ctx.label("weekday", day)),
        HOURS.map((hour) => {
          const row = cells.get(`${day}:${hour}`);
          const where = `${ctx.label("weekday", day)} ${ctx.label("hour", hour)}`;
          if (!row) return h("td", { class: "an-heat-none", title: `${where}: ${t("analytics.charts.heatmap.empty_cell")}` });
          if (row.suppressed) {
            return h("td", { class: "suppressed", title: `${where}: ${why}`, dataset: { suppressed: "true" } },
              t("analytics.suppressed.mark", { k: ctx.k }));
          }
          const value = row[measure];
          const bucket = Math.min(HEAT_BUCKETS.length - 1, Math.floor((value / top) * HEAT_BUCKETS.length));
          return h("td", {
            class: `an-heat-${bucket}`,
            title: `${where}: ${formatMeasure(measure, value)}`,
            dataset: { value: String(value) },
          }, compact.format(value));
        }),
      ));
      const table = h("table", { class: "an-heat", id: "heat-table" },
        h("caption", {}, t("analytics.charts.heatmap.caption", { measure: measureName })),
        h("thead", {}, head), h("tbody", {}, body));
      box.replaceChildren(table);
      Object.assign(box.dataset, {
        ready: "true",
        cells: String(values.length),
        suppressed: String(answer.rows.filter((r) => r.suppressed).length),
      });
      const scale = h("span", { class: "an-heat-scale", "aria-hidden": "true" },
        t("analytics.charts.heatmap.scale"),
        HEAT_BUCKETS.map((_, i) => h("span", { class: `an-heat-key an-heat-${i}` })),
        t("analytics.charts.heatmap.scale_high"));
      note.replaceChildren(scale, " ", suppressionNote(answer.suppressed, why));
    } catch (error) {
      note.hidden = true;
      showError($("chart-heat-error"), ctx.describe(error));
    } finally {
      setBusy(card, false);
    }
  }

  // ---------------------------------------------------------------- campaign uplift

  function fillCampaigns() {
    const select = $("uplift-campaign");
    select.replaceChildren(...ctx.campaigns.map((c) => h("option", { value: String(c.id) },
      `${c.name} (${t(`analytics.status.${c.status}`)})`)));
    // The newest campaign that has started: one not yet started (開始前) has no effect to show.
    const now = Date.now();
    const started = ctx.campaigns.find((c) => c.status !== "approved" && Date.parse(c.starts_at) <= now);
    if (started) select.value = String(started.id);
    select.disabled = ctx.campaigns.length === 0;
    if (!ctx.campaigns.length) {
      const note = $("chart-uplift-note");
      note.textContent = t("analytics.charts.uplift.none");
      note.hidden = false;
    }
  }

  async function uplift() {
    const id = $("uplift-campaign").value;
    if (!id) return;
    const canvas = $("chart-uplift");
    const card = canvas.closest("section");
    const note = $("chart-uplift-note");
    $("chart-uplift-error").hidden = true;
    note.textContent = t("analytics.charts.loading");
    note.hidden = false;
    setBusy(card, true);
    try {
      const cached = ctx.reports?.[id];
      const report = cached ?? await ctx.api.get(`/api/v1/campaigns/${id}/report`);
      if (ctx.reports) delete ctx.reports[id]; // use a prefetched report once, then ask afresh
      const k = Number.isInteger(report.min_residents) ? report.min_residents : ctx.k;
      const streets = report.by_shopping_street || [];
      const labels = streets.map((s) => {
        const name = ctx.label("shopping_street", s.shopping_street_id);
        if (!s.suppressed) return name;
        // Say why: too few residents (k), one dominant shop, or hidden with a sibling row.
        const reason = ["dominant_shop", "complementary"].includes(s.suppressed_reason) ? s.suppressed_reason : null;
        return reason ? t(`analytics.charts.hidden.${reason}`, { name }) : t("analytics.charts.fully_suppressed", { name, k });
      });
      const pick = (key) => streets.map((s) => (s.suppressed || typeof s[key] !== "number" ? null : s[key]));
      const datasets = [
        { label: t("analytics.charts.uplift.during"), data: pick("spend"), backgroundColor: "#0a7d4f" },
        { label: t("analytics.charts.uplift.baseline"), data: pick("baseline_spend"), backgroundColor: "#9aa8a1" },
      ];
      drawChart(canvas, {
        type: "bar",
        data: { labels, datasets },
        options: {
          responsive: true,
          maintainAspectRatio: false,
          plugins: {
            legend: { position: "bottom" },
            tooltip: { callbacks: { label: (item) => `${item.dataset.label}: ${yen(item.parsed.y)}` } },
          },
          scales: {
            x: { ticks: { autoSkip: false, maxRotation: 60 } },
            y: { beginAtZero: true, ticks: { callback: (v) => yen(v) } },
          },
        },
      });
      describeCanvas(canvas, labels, datasets);
      renderFigures(report);
      note.textContent = suppressionNote(report.suppressed || 0, t("analytics.chart.suppressed_legend", { k }));
    } catch (error) {
      note.hidden = true;
      showError($("chart-uplift-error"), ctx.describe(error));
    } finally {
      setBusy(card, false);
    }
  }

  function renderFigures(report) {
    const percent = typeof report.uplift_percent === "number" ? `${number(report.uplift_percent)} %` : "–";
    const cost = typeof report.cost_per_yen_of_uplift === "number" ? yenCents.format(report.cost_per_yen_of_uplift) : "–";
    const item = (key, value, id, extra) => h("div", { class: "an-figure" }, h("dt", {}, t(key)), h("dd", { id }, value, extra));
    const figures = $("uplift-figures");
    figures.replaceChildren(
      item("analytics.charts.uplift.spend", yen(report.spend), "uplift-spend"),
      item("analytics.charts.uplift.baseline_spend", yen(report.baseline_spend)),
      item("analytics.charts.uplift.uplift", percent),
      item("analytics.charts.uplift.budget_used", yen(report.budget_used), null,
        h("small", {}, t("analytics.charts.uplift.budget_of", { budget: yen(report.budget) }))),
      item("analytics.charts.uplift.cost", cost),
    );
    $("uplift-state").replaceChildren(
      h("span", { class: report.final ? "badge" : "badge badge-warn" }, t(report.final ? "analytics.charts.uplift.final" : "analytics.charts.uplift.provisional")),
      " ", t("analytics.charts.uplift.period", { from: dateOnly(report.period?.from), to: dateOnly(report.period?.to) }));
    $("uplift-state").hidden = false;
    figures.hidden = false;
  }

  // ---------------------------------------------------------------- wiring

  $("chart-street-refresh").addEventListener("click", streetMonth);
  $("heat-form").addEventListener("submit", (event) => { event.preventDefault(); heatmap(); });
  $("uplift-campaign").addEventListener("change", uplift);

  return {
    /** Forget what was drawn (another analyst may sign in next). */
    reset() {
      loaded = false;
      for (const id of ["chart-street", "chart-uplift"]) {
        window.Chart.getChart($(id))?.destroy();
        delete $(id).dataset.ready;
      }
      $("chart-heat").replaceChildren();
      delete $("chart-heat").dataset.ready;
      $("uplift-figures").hidden = true;
      $("uplift-state").hidden = true;
    },
    show() {
      if (loaded) return;
      loaded = true;
      fillCampaigns();
      streetMonth();
      heatmap();
      uplift();
    },
  };
}
