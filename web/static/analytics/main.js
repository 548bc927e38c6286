// The analyst console (/analytics): sign in, build a query, read a disclosure-controlled
// answer (suppressed cells marked "＜k"), download it as CSV, and look at three charts.

import { ApiError, createApi, describeError, h, number, showError, t, toast } from "/static/js/core.js";
import { createCharts } from "./charts.js";
import {
  AGE_BANDS, FINER_THAN_DISTRICT, INTEGER_DIMENSIONS, MONTH_PATTERN, STORE_TYPES, WEEKDAYS, makeLabeller,
} from "./labels.js";
import { answerCsv, answerHasErrors, resultsTable, saveText } from "./results.js";

const api = createApi("analytics");
const $ = (id) => document.getElementById(id);
const DEFAULT_MIN_RESIDENTS = 10;

/** What every part of the console shares. */
const ctx = {
  api,
  ref: { streets: [], districts: [], categories: [] },
  label: makeLabeller(),
  k: DEFAULT_MIN_RESIDENTS, // the minimum residents of a published cell
  budget: null, // GET /analytics/budget, when the server has it
  campaigns: [],
  describe: describeQueryError,
};
let charts = null;
let current = null; // {answer, query} shown in the table
let busy = false;

const PRESETS = {
  street_month: { measures: ["spend", "payments", "residents"], dimensions: ["shopping_street", "month"] },
  weekday_hour: { measures: ["spend", "payments"], dimensions: ["weekday", "hour"] },
  age: { measures: ["spend", "payments", "residents", "average_ticket"], dimensions: ["age_band"] },
};

// ---------------------------------------------------------------- errors

/** A refusal as the analyst should read it: the hour rule and the privacy budget in our words. */
function describeQueryError(error) {
  if (error instanceof ApiError) {
    const detail = String(error.problem?.detail || "");
    if (error.slug === "validation-error" && /hour/i.test(detail)) return t("analytics.error.hour_street");
    if (error.slug === "validation-error" && /more than \d+ cells/i.test(detail)) return t("analytics.error.too_many_cells");
    return describeError(error);
  }
  return describeError(error);
}

function showMessage(element, text, kind) {
  element.textContent = text;
  element.className = `alert alert-${kind}`;
  element.setAttribute("role", kind === "error" ? "alert" : "status");
  element.hidden = false;
}

// ---------------------------------------------------------------- views

function show(view) {
  $("boot").hidden = true;
  $("signin-view").hidden = view !== "signin";
  $("console-view").hidden = view !== "console";
  $("sign-out").hidden = view !== "console";
  $("sign-out-all").hidden = view !== "console";
  $("who").hidden = view !== "console";
}

function showSignIn(message, kind = "error") {
  show("signin");
  const box = $("signin-message");
  if (message) showMessage(box, message, kind);
  else box.hidden = true;
  $("password").value = "";
}

async function enter(me) {
  if (me.role !== "analyst") {
    await api.signOut();
    showSignIn(t("analytics.signin.wrong_role"));
    $("username").focus();
    return;
  }
  $("who").textContent = t("analytics.signed_in_as", { name: me.username });
  await Promise.all([loadBudget(), loadCampaigns()]);
  ctx.label = makeLabeller({ ...ctx.ref, campaigns: ctx.campaigns });
  fillFilters();
  if (!ctx.budget) await minResidentsFromReport();
  show("console");
  reflectMode();
  charts ??= createCharts(ctx);
  $("console-title").focus?.();
}

// ---------------------------------------------------------------- data the console needs

async function loadReference() {
  const [streets, districts, categories] = await Promise.all([
    api.get("/api/v1/shopping-streets", { auth: false }),
    api.get("/api/v1/districts", { auth: false }),
    api.get("/api/v1/merchant-categories", { auth: false }),
  ]);
  ctx.ref = { streets, districts, categories };
  ctx.label = makeLabeller(ctx.ref);
  fillFilters();
}

async function loadBudget() {
  try {
    const budget = await api.get("/api/v1/analytics/budget");
    ctx.budget = budget;
    if (Number.isInteger(budget?.min_residents)) ctx.k = budget.min_residents;
  } catch {
    ctx.budget = null; // not there yet on this server: the ε box says so, k falls back
  }
  renderBudget();
}

async function loadCampaigns() {
  try {
    // Effect reports exist for approved campaigns only (a draft's report is refused).
    const funded = ["approved", "active", "ended", "closed"].map((s) => `status=${s}`).join("&");
    const page = await api.get(`/api/v1/campaigns?limit=50&${funded}`);
    ctx.campaigns = page.items || [];
  } catch {
    ctx.campaigns = [];
  }
}

/** Without the budget endpoint, a campaign report still says what k the server uses. */
async function minResidentsFromReport() {
  const first = ctx.campaigns[0];
  if (!first) return;
  try {
    const report = await api.get(`/api/v1/campaigns/${first.id}/report`);
    if (Number.isInteger(report?.min_residents)) ctx.k = report.min_residents;
    ctx.reports = { [first.id]: report };
  } catch { /* keep the default */ }
}

function formatEpsilon(value) {
  return number(Math.round(value * 1000) / 1000);
}

function renderBudget() {
  const box = $("dp-budget");
  const budget = ctx.budget;
  if (!budget || typeof budget.epsilon_remaining !== "number") {
    box.textContent = t("analytics.budget.unknown");
    return;
  }
  const eps = formatEpsilon;
  box.replaceChildren(
    h("strong", {}, t("analytics.budget", { remaining: eps(budget.epsilon_remaining), monthly: eps(budget.epsilon_monthly) })),
    h("span", { class: "muted" }, ` (${budget.period ?? ""} · ${t("analytics.budget.spent", { spent: eps(budget.epsilon_spent ?? 0) })})`),
  );
}

// ---------------------------------------------------------------- the builder

const form = $("query-form");

function fillFilters() {
  const options = (select, items) => select.replaceChildren(...items.map(([value, text]) => h("option", { value }, text)));
  const { label } = ctx;
  options($("filter-shopping_street"), ctx.ref.streets.map((s) => [String(s.id), label("shopping_street", s.id)]));
  options($("filter-district"), ctx.ref.districts.map((d) => [d.id, label("district", d.id)]));
  options($("filter-category"), ctx.ref.categories.map((c) => [c.code, label("category", c.code)]));
  options($("filter-age_band"), AGE_BANDS.map((a) => [a, label("age_band", a)]));
  const checks = (box, name, values, dimension) => box.replaceChildren(...values.map((v) => h("label", {},
    h("input", { type: "checkbox", name, value: String(v) }), " ", label(dimension, v))));
  options($("filter-campaign"), ctx.campaigns.map((c) => [String(c.id), label("campaign", c.id)]));
  checks($("filter-store_type"), "filter-store_type", STORE_TYPES, "store_type");
  checks($("filter-weekday"), "filter-weekday", WEEKDAYS, "weekday");
  const heat = $("heat-district");
  heat.replaceChildren(heat.options[0], ...ctx.ref.districts.map((d) => h("option", { value: d.id }, label("district", d.id))));
}

function filterValues() {
  const filters = {};
  for (const name of ["shopping_street", "district", "category", "age_band", "campaign"]) {
    const picked = [...$(`filter-${name}`).selectedOptions].map((o) => o.value);
    if (picked.length) filters[name] = picked;
  }
  for (const name of ["store_type", "weekday"]) {
    const picked = [...form.querySelectorAll(`input[name="filter-${name}"]:checked`)].map((i) => i.value);
    if (picked.length) filters[name] = picked;
  }
  const months = $("filter-month").value.split(/[\s,、，]+/).filter(Boolean);
  if (months.length) filters.month = months;
  for (const name of Object.keys(filters)) {
    if (INTEGER_DIMENSIONS.has(name)) filters[name] = filters[name].map(Number);
  }
  return filters;
}

function reflectFilterCount() {
  const n = Object.keys(filterValues()).length;
  const badge = $("filters-count");
  badge.textContent = t("analytics.filters.active", { n });
  badge.hidden = n === 0;
}

/** The query the form describes, or {error, focus} when it cannot be asked. */
function readForm() {
  const measures = [...form.querySelectorAll('input[name="measure"]:checked')].map((i) => i.value);
  const dimensions = [...form.querySelectorAll('select[name="dimension"]')].map((s) => s.value).filter(Boolean);
  const filters = filterValues();
  const mode = form.querySelector('input[name="mode"]:checked')?.value || "threshold";
  const epsilonText = $("dp-epsilon").value.trim();
  const epsilon = epsilonText === "" ? null : Number(epsilonText);
  if (!measures.length) return { error: t("analytics.error.no_measure"), focus: form.querySelector('input[name="measure"]') };
  if (new Set(dimensions).size !== dimensions.length) return { error: t("analytics.error.duplicate_dimension"), focus: $("dimension-1") };
  const named = new Set([...dimensions, ...Object.keys(filters)]);
  if (named.has("hour") && [...FINER_THAN_DISTRICT].some((d) => named.has(d))) {
    return { error: t("analytics.error.hour_street"), focus: $("dimension-1") };
  }
  if ((filters.month || []).some((m) => !MONTH_PATTERN.test(m))) {
    $("filters").open = true;
    return { error: t("analytics.error.bad_month"), focus: $("filter-month") };
  }
  if (mode === "dp" && epsilon !== null) {
    if (!Number.isFinite(epsilon) || epsilon <= 0 || epsilon > 10) return { error: t("analytics.error.bad_epsilon"), focus: $("dp-epsilon") };
    const left = ctx.budget?.epsilon_remaining;
    if (typeof left === "number" && epsilon > left + 1e-9) {
      return { error: t("analytics.error.epsilon_over_budget", { remaining: formatEpsilon(left) }), focus: $("dp-epsilon") };
    }
  }
  const query = { measures, dimensions, filters, mode };
  if (mode === "dp" && epsilon !== null) query.epsilon = epsilon;
  return { query };
}

function setForm({ measures, dimensions, filters = {}, mode = "threshold" }) {
  for (const box of form.querySelectorAll('input[name="measure"]')) box.checked = measures.includes(box.value);
  form.querySelectorAll('select[name="dimension"]').forEach((select, i) => { select.value = dimensions[i] || ""; });
  clearFilters();
  for (const [name, values] of Object.entries(filters)) {
    const wanted = new Set(values.map(String));
    if (name === "month") $("filter-month").value = values.join(", ");
    else if (name === "store_type" || name === "weekday") {
      for (const box of form.querySelectorAll(`input[name="filter-${name}"]`)) box.checked = wanted.has(box.value);
    } else for (const option of $(`filter-${name}`).options) option.selected = wanted.has(option.value);
  }
  for (const radio of form.querySelectorAll('input[name="mode"]')) radio.checked = radio.value === mode;
  reflectMode();
  reflectFilterCount();
}

function clearFilters() {
  for (const select of form.querySelectorAll("select[multiple]")) for (const option of select.options) option.selected = false;
  for (const box of form.querySelectorAll('input[name^="filter-"]')) box.checked = false;
  $("filter-month").value = "";
  reflectFilterCount();
}

function reflectMode() {
  const dp = form.querySelector('input[name="mode"]:checked')?.value === "dp";
  $("dp-box").hidden = !dp;
}

// ---------------------------------------------------------------- asking and showing

function setBusy(on) {
  busy = on;
  const button = $("run-query");
  button.disabled = on;
  button.textContent = on ? t("analytics.running") : t("analytics.run");
  $("results").setAttribute("aria-busy", String(on));
  for (const b of document.querySelectorAll("[data-preset]")) b.disabled = on;
  if (on) {
    $("results-status").textContent = t("analytics.running");
    $("results-status").hidden = false;
  }
}

async function run(query) {
  if (busy) return;
  $("query-error").hidden = true;
  setBusy(true);
  if (query.mode === "dp") $("results-status").textContent = t("analytics.running_dp");
  try {
    const answer = await api.post("/api/v1/analytics/query", query);
    current = { answer, query };
    if (ctx.budget && typeof answer.epsilon_remaining === "number") {
      ctx.budget = { ...ctx.budget, epsilon_remaining: answer.epsilon_remaining, epsilon_spent: ctx.budget.epsilon_monthly - answer.epsilon_remaining };
      renderBudget();
    }
    renderResults();
    // On a phone the results sit below the builder: bring them into view.
    if (window.matchMedia("(max-width: 959px)").matches) $("results").scrollIntoView({ block: "start" });
  } catch (error) {
    showError($("query-error"), describeQueryError(error));
    $("results-status").textContent = current ? "" : t("analytics.results.empty");
    $("results-status").hidden = Boolean(current);
  } finally {
    setBusy(false);
    if (query.mode === "dp") loadBudget();
  }
}

function renderResults() {
  const { answer, query } = current;
  const wrap = $("results-table");
  const meta = $("results-meta");
  const status = $("results-status");
  $("download-csv").disabled = false;
  const parts = [
    h("span", { class: "badge badge-grey" }, t(`analytics.results.mode.${answer.mode === "dp" ? "dp" : "threshold"}`)),
    h("span", {}, t("analytics.results.summary", { rows: number(answer.rows.length) })),
  ];
  if (answer.mode !== "dp" || answer.suppressed) {
    parts.push(h("span", { id: "suppressed-count", class: answer.suppressed ? "badge badge-warn" : "badge", dataset: { count: String(answer.suppressed) } },
      t("analytics.results.suppressed", { n: number(answer.suppressed) })));
  }
  if (typeof answer.epsilon_spent === "number") {
    parts.push(h("span", { id: "epsilon-spent" }, t("analytics.results.epsilon", { epsilon: formatEpsilon(answer.epsilon_spent) })));
  }
  if (typeof answer.epsilon_remaining === "number") {
    parts.push(h("span", { id: "epsilon-remaining" }, t("analytics.results.epsilon_remaining", { epsilon: formatEpsilon(answer.epsilon_remaining) })));
  }
  meta.replaceChildren(...parts);
  meta.hidden = false;
  if (!answer.rows.length) {
    wrap.hidden = true;
    wrap.replaceChildren();
    status.textContent = t(answer.mode === "dp" ? "analytics.results.none_dp" : "analytics.results.none");
    status.hidden = false;
    $("results-legend").hidden = true;
    return;
  }
  status.hidden = true;
  wrap.replaceChildren(resultsTable(answer, query, { label: ctx.label, k: ctx.k }));
  wrap.hidden = false;
  const legend = [];
  if (answer.suppressed) legend.push(h("span", { class: "an-swatch", "aria-hidden": "true" }, t("analytics.suppressed.mark", { k: ctx.k })), " ", t("analytics.suppressed.legend", { k: ctx.k }));
  if (answerHasErrors(answer, query)) legend.push(t("analytics.results.dp_note"), " ", t("analytics.results.noisy_legend"));
  $("results-legend").replaceChildren(...legend);
  $("results-legend").hidden = legend.length === 0;
}

function downloadCsv() {
  if (!current) return;
  const stamp = new Date().toLocaleString("sv-SE", { timeZone: "Asia/Tokyo" }).slice(0, 16).replace(/[-: ]/g, "");
  saveText(answerCsv(current.answer, current.query, { label: ctx.label }), `${t("analytics.csv.filename")}-${stamp}.csv`);
  toast(t("analytics.csv.done"));
}

// ---------------------------------------------------------------- tabs

function selectTab(tab) {
  for (const other of document.querySelectorAll('[role="tab"]')) {
    const selected = other === tab;
    other.setAttribute("aria-selected", String(selected));
    other.tabIndex = selected ? 0 : -1;
    $(other.getAttribute("aria-controls")).hidden = !selected;
  }
  if (tab.id === "tab-charts") charts?.show();
}

function wireTabs() {
  const tabs = [...document.querySelectorAll('[role="tab"]')];
  for (const tab of tabs) {
    tab.addEventListener("click", () => selectTab(tab));
    tab.addEventListener("keydown", (event) => {
      const step = { ArrowRight: 1, ArrowLeft: -1 }[event.key];
      if (!step) return;
      const next = tabs[(tabs.indexOf(tab) + step + tabs.length) % tabs.length];
      next.focus();
      selectTab(next);
    });
  }
}

// ---------------------------------------------------------------- wiring

$("signin-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const username = $("username").value.trim();
  const password = $("password").value;
  const box = $("signin-message");
  if (!username || !password) {
    showMessage(box, t("analytics.signin.missing"), "error");
    (username ? $("password") : $("username")).focus();
    return;
  }
  const button = $("sign-in");
  button.disabled = true;
  button.textContent = t("analytics.signin.busy");
  box.hidden = true;
  try {
    await enter(await api.signIn(username, password));
  } catch (error) {
    showError(box, error);
  } finally {
    button.disabled = false;
    button.textContent = t("action.sign_in");
  }
});

async function signOutWith(end) {
  await end();
  current = null;
  resetResults();
  charts?.reset();
  selectTab($("tab-query"));
  showSignIn(t("analytics.signed_out"), "ok");
  $("username").focus();
}
$("sign-out").addEventListener("click", () => signOutWith(api.signOut));
$("sign-out-all").addEventListener("click", () => signOutWith(api.signOutEverywhere));

window.addEventListener("machipay:signed-out", () => showSignIn(t("error.session_expired")));

function resetResults() {
  $("results-table").replaceChildren();
  $("results-table").hidden = true;
  $("results-meta").hidden = true;
  $("results-legend").hidden = true;
  $("results-status").textContent = t("analytics.results.empty");
  $("results-status").hidden = false;
  $("download-csv").disabled = true;
  $("query-error").hidden = true;
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  const { query, error, focus } = readForm();
  if (error) {
    showError($("query-error"), error);
    focus?.focus();
    return;
  }
  run(query);
});
form.addEventListener("change", (event) => {
  if (event.target.name === "mode") reflectMode();
  if (event.target.closest("#filters")) reflectFilterCount();
});
$("filter-month").addEventListener("input", reflectFilterCount);
$("filters-clear").addEventListener("click", clearFilters);
$("download-csv").addEventListener("click", downloadCsv);
for (const button of document.querySelectorAll("[data-preset]")) {
  button.addEventListener("click", () => {
    const preset = PRESETS[button.dataset.preset];
    setForm(preset);
    run({ measures: preset.measures, dimensions: preset.dimensions, filters: {}, mode: "threshold" });
  });
}
wireTabs();

async function boot() {
  try {
    await loadReference();
  } catch (error) {
    show("signin");
    showError($("signin-message"), error);
    return;
  }
  if (!api.signedIn()) {
    showSignIn();
    return;
  }
  try {
    await enter(await api.me());
  } catch {
    showSignIn();
  }
}
boot();
