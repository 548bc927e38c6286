// Campaigns: the list, the form that drafts one, the detail (maker-checker, estimate, live
// budget burn, totals, audit trail) and the effect report.

import { h, t, yen, number, dateTime, dateOnly, toast, describeError, showError, ApiError, lang, wholeNumber } from "/static/js/core.js";
import {
  api, state, can, STORE_TYPES, statusBadge, pageHeader, loadingBox, emptyBox, errorBox, table, cell,
  field, setFieldError, clearFieldErrors, showFormSummary, problemFieldErrors, tokyoLocalInput, tokyoIso,
  percent, streetName, categoryName, storeTypeName, definitionList, kpi, busy,
  fill, confirmDialog,
} from "/static/console/ui.js";

const POLL_MS = 2000;
const TO = lang === "en" ? " – " : " 〜 ";
const STATUSES = ["draft", "submitted", "approved", "active", "ended", "closed", "withdrawn"];
const EDITABLE = new Set(["draft", "submitted"]);
const FUNDED = new Set(["approved", "active", "ended", "closed"]);

export async function render(view, _screen, parts) {
  if (parts[0] === "new") return renderForm(view);
  if (parts[0] && parts[1] === "report") return renderReport(view, Number(parts[0]));
  if (parts[0] && parts[1] === "edit") return renderForm(view, Number(parts[0]));
  if (parts[0]) return renderDetail(view, Number(parts[0]));
  return renderList(view);
}

// -- list ---------------------------------------------------------------------------------

function budgetBar(campaign) {
  const funded = FUNDED.has(campaign.status);
  const left = funded ? campaign.budget_remaining : campaign.budget;
  const ratio = campaign.budget ? Math.max(0, Math.min(1, left / campaign.budget)) : 0;
  return h("div", { class: "budget" },
    h("div", { class: "budget-text" },
      h("span", { class: "muted" }, funded ? t("console.campaign.remaining") : t("console.campaign.budget")),
      h("strong", { class: "num" }, yen(left)),
      funded ? h("span", { class: "muted num" }, `/ ${yen(campaign.budget)}`) : null,
    ),
    funded ? h("div", { class: "meter", role: "img", "aria-label": t("console.campaign.remaining_ratio", { percent: Math.round(ratio * 100) }) },
      h("span", { style: `width: ${(ratio * 100).toFixed(1)}%` })) : null,
  );
}

async function renderList(view) {
  const filter = field({
    id: "campaign-filter", label: t("console.campaigns.filter"), kind: "select",
    options: [["", t("console.campaigns.filter.all")], ...STATUSES.map((s) => [s, t(`console.status.${s}`)])],
  });
  const list = h("ul", { class: "campaign-list", id: "campaign-list" });
  const more = h("button", { type: "button", class: "btn btn-secondary", hidden: true }, t("console.more"));
  const box = h("div", {}, loadingBox());
  fill(view,
    pageHeader(t("console.nav.campaigns"),
      can.writeCampaigns() ? h("a", { class: "btn", href: "#/campaigns/new", id: "new-campaign" }, `＋ ${t("console.campaigns.new")}`) : null),
    can.writeCampaigns() ? null : h("p", { class: "alert alert-info" }, t("console.campaigns.read_only")),
    h("div", { class: "toolbar" }, filter),
    box,
    h("div", { class: "center" }, more),
  );
  let cursor = null;

  async function load(reset) {
    if (reset) { cursor = null; list.replaceChildren(); box.replaceChildren(loadingBox()); }
    const status = view.querySelector("#campaign-filter").value;
    const params = new URLSearchParams({ limit: "20" });
    if (status) params.append("status", status);
    if (cursor) params.set("cursor", String(cursor));
    try {
      const page = await api.get(`/api/v1/campaigns?${params}`);
      list.append(...page.items.map(campaignItem));
      cursor = page.next_cursor;
      more.hidden = !cursor;
      box.replaceChildren(list.children.length ? list : emptyBox(t("console.campaigns.empty")));
    } catch (error) {
      box.replaceChildren(errorBox(error, () => load(true)));
    }
  }
  view.querySelector("#campaign-filter").addEventListener("change", () => load(true));
  more.addEventListener("click", () => busy(more, () => load(false)));
  await load(true);
}

function campaignItem(c) {
  return h("li", { class: "campaign-item card", dataset: { campaignId: c.id } },
    h("div", { class: "spread" },
      h("a", { class: "campaign-name", href: `#/campaigns/${c.id}` }, c.name),
      statusBadge(c.status),
    ),
    h("div", { class: "campaign-meta muted" },
      h("span", {}, `${dateTime(c.starts_at)}${TO}${dateTime(c.ends_at)}`),
      h("span", {}, t("console.campaign.rates_short", { resident: percent(c.resident_rate_bp), merchant: percent(c.merchant_rate_bp) })),
    ),
    budgetBar(c),
  );
}

// -- form ---------------------------------------------------------------------------------

const FIELD_IDS = {
  name: "c-name", starts_at: "c-starts", ends_at: "c-ends", resident_rate_bp: "c-resident-rate",
  merchant_rate_bp: "c-merchant-rate", budget: "c-budget", per_payment_cap: "c-cap-payment",
  per_resident_monthly_cap: "c-cap-monthly", per_resident_cap: "c-cap-resident", min_payment: "c-min-payment",
  grant: "c-grant", points_expiry_days: "c-expiry", eligibility: "c-eligibility", tiers: "c-tiers",
};

function checks(name, legend, items, hint) {
  return h("fieldset", { class: "checks-set", id: `${name}-set` },
    h("legend", {}, legend),
    hint ? h("p", { class: "hint" }, hint) : null,
    h("div", { class: "checks" }, items.map(([value, text]) => {
      const id = `${name}-${value}`;
      return h("label", { for: id }, h("input", { type: "checkbox", id, name, value }), text);
    })),
  );
}

async function renderForm(view, editId = null) {
  const heading = editId ? t("console.campaigns.edit") : t("console.campaigns.new");
  if (!can.writeCampaigns()) {
    fill(view, pageHeader(heading), h("p", { class: "alert alert-info" }, t("console.campaigns.read_only")));
    return;
  }
  let existing = null;
  if (editId) {
    fill(view, loadingBox());
    existing = await api.get(`/api/v1/campaigns/${editId}`);
    if (!EDITABLE.has(existing.status)) {
      fill(view,
        h("p", { class: "crumbs" }, h("a", { href: `#/campaigns/${editId}` }, `← ${existing.name}`)),
        pageHeader(heading), h("p", { class: "alert alert-info", id: "edit-closed" }, t("console.campaigns.edit_closed", { status: t(`console.status.${existing.status}`) })));
      return;
    }
  }
  const now = new Date();
  const start = new Date(now.getTime() + 24 * 3600e3);
  const form = h("form", { id: "campaign-form", novalidate: true, class: "campaign-form" },
    h("div", { class: "form-summary alert alert-error", role: "alert", tabindex: "-1", hidden: true }),
    h("section", { class: "card" },
      h("h2", {}, t("console.form.basics")),
      field({ id: "c-name", label: t("console.campaign.name"), required: true, maxlength: "80", autocomplete: "off" }),
      h("div", { class: "grid-2" },
        field({ id: "c-starts", label: t("console.campaign.starts_at"), type: "datetime-local", required: true, value: tokyoLocalInput(start).slice(0, 11) + "00:00", hint: t("console.form.tokyo_time") }),
        field({ id: "c-ends", label: t("console.campaign.ends_at"), type: "datetime-local", required: true, value: tokyoLocalInput(new Date(start.getTime() + 30 * 86400e3)).slice(0, 11) + "23:59", hint: t("console.form.tokyo_time") }),
      ),
    ),
    h("section", { class: "card" },
      h("h2", {}, t("console.form.rates")),
      h("div", { class: "grid-2" },
        field({ id: "c-resident-rate", label: t("console.campaign.resident_rate"), type: "number", inputmode: "decimal", min: "0", max: "100", step: "0.01", required: true, suffix: "%", hint: t("console.form.rate_hint") }),
        field({ id: "c-merchant-rate", label: t("console.campaign.merchant_rate"), type: "number", inputmode: "decimal", min: "0", max: "100", step: "0.01", value: "0", suffix: "%", hint: t("console.form.merchant_rate_hint") }),
      ),
      h("div", { class: "grid-2" },
        field({ id: "c-budget", label: t("console.campaign.budget"), type: "number", inputmode: "numeric", min: "1", step: "1", required: true, suffix: t("console.unit.yen"), hint: t("console.form.budget_hint") }),
        field({ id: "c-min-payment", label: t("console.campaign.min_payment"), type: "number", inputmode: "numeric", min: "0", step: "1", value: "0", suffix: t("console.unit.yen"), hint: t("console.form.min_payment_hint") }),
      ),
    ),
    h("section", { class: "card" },
      h("h2", {}, t("console.form.caps")),
      h("p", { class: "hint" }, t("console.form.caps_hint")),
      h("div", { class: "grid-3" },
        field({ id: "c-cap-payment", label: t("console.campaign.per_payment_cap"), type: "number", inputmode: "numeric", min: "1", step: "1", suffix: "pt", placeholder: t("console.form.no_cap") }),
        field({ id: "c-cap-monthly", label: t("console.campaign.per_resident_monthly_cap"), type: "number", inputmode: "numeric", min: "1", step: "1", suffix: "pt", placeholder: t("console.form.no_cap") }),
        field({ id: "c-cap-resident", label: t("console.campaign.per_resident_cap"), type: "number", inputmode: "numeric", min: "1", step: "1", suffix: "pt", placeholder: t("console.form.no_cap") }),
      ),
    ),
    h("section", { class: "card" },
      h("h2", {}, t("console.form.points")),
      h("fieldset", { id: "c-grant", "aria-describedby": "c-grant-error" },
        h("legend", {}, t("console.campaign.grant")),
        h("div", { class: "checks" },
          ["immediate", "deferred"].map((value) => h("label", { for: `c-grant-${value}` },
            h("input", { type: "radio", name: "c-grant", id: `c-grant-${value}`, value, checked: value === "immediate" }),
            t(`console.grant.${value}`))),
        ),
        h("p", { class: "field-error", id: "c-grant-error", hidden: true }),
      ),
      h("div", { class: "grid-2" }, field({ id: "c-expiry", label: t("console.campaign.points_expiry_days"), type: "number", inputmode: "numeric", min: "1", max: "3650", step: "1", value: "180", suffix: t("console.unit.days") })),
    ),
    h("section", { class: "card", id: "c-eligibility", "aria-describedby": "c-eligibility-error" },
      h("h2", {}, t("console.form.eligibility")),
      h("p", { class: "hint" }, t("console.form.eligibility_hint")),
      checks("elig-store", t("console.campaign.store_types"), STORE_TYPES.map((s) => [s, storeTypeName(s)])),
      checks("elig-street", t("console.campaign.streets"), state.streets.map((s) => [String(s.id), streetName(s.id)])),
      checks("elig-category", t("console.campaign.categories"), state.categories.map((c) => [c.code, categoryName(c.code)])),
      h("p", { class: "field-error", id: "c-eligibility-error", hidden: true }),
    ),
    h("section", { class: "card", id: "c-tiers", "aria-describedby": "c-tiers-error" },
      h("h2", {}, t("console.form.tiers")),
      h("p", { class: "hint" }, t("console.form.tiers_hint")),
      h("div", { class: "grid-3" }, STORE_TYPES.map((s) => field({
        id: `c-tier-${s}`, label: t("console.form.tier_for", { type: storeTypeName(s) }), type: "number", inputmode: "decimal",
        min: "0", max: "100", step: "0.01", suffix: "%", placeholder: t("console.form.same_rate"),
      }))),
      h("p", { class: "field-error", id: "c-tiers-error", hidden: true }),
    ),
    h("div", { class: "form-actions" },
      h("a", { class: "btn btn-secondary", href: existing ? `#/campaigns/${existing.id}` : "#/campaigns" }, t("action.cancel")),
      h("button", { type: "submit", class: "btn", id: "save-campaign" }, existing ? t("console.form.save_changes") : t("console.form.save_draft")),
    ),
  );
  if (existing) {
    prefillCampaignForm(form, existing);
    fill(view,
      h("p", { class: "crumbs" }, h("a", { href: `#/campaigns/${existing.id}` }, `← ${existing.name}`)),
      pageHeader(heading),
      h("p", { class: "alert alert-info", id: "edit-note" }, t(existing.status === "submitted" ? "console.campaigns.edit_submitted" : "console.campaigns.edit_draft")),
      form);
  } else {
    fill(view, pageHeader(heading), h("p", { class: "muted" }, t("console.form.lead")), form);
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearFieldErrors(form);
    const { body, errors } = readCampaignForm(form);
    if (errors.length) {
      for (const [id, message] of errors) setFieldError(form, id, message);
      showFormSummary(form, errors.map(([, m]) => m));
      return;
    }
    const button = form.querySelector("#save-campaign");
    await busy(button, async () => {
      try {
        // An edit sends only what the officer changed: a time the form shows to the minute
        // must not count as an edit (it would send a submission back to draft for nothing).
        const saved = existing
          ? await api.patch(`/api/v1/campaigns/${existing.id}`, changedTerms(existing, body))
          : await api.post("/api/v1/campaigns", body);
        toast(existing ? t("console.form.changes_saved") : t("console.form.saved"));
        location.hash = `#/campaigns/${saved.id}`;
      } catch (error) {
        showServerErrors(form, error);
      }
    });
  });
}

const value = (form, id) => form.querySelector(`#${id}`).value.trim();

/** The terms the form changes, against the campaign as it was loaded. */
function changedTerms(c, body) {
  const out = {};
  const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);
  const sorted = (list) => [...(list || [])].map(String).sort();
  for (const [key, next] of Object.entries(body)) {
    if (key === "starts_at" || key === "ends_at") {
      if (tokyoLocalInput(new Date(c[key])) !== tokyoLocalInput(new Date(next))) out[key] = next;
    } else if (key === "eligibility") {
      const lists = ["shopping_street_ids", "categories", "store_types"];
      // Districts are not on the form: they stay as they were.
      if (lists.some((k) => !same(sorted(c.eligibility?.[k]), sorted(next[k])))) out[key] = { ...c.eligibility, ...next };
    } else if (key === "tiers") {
      const plain = (tiers) => (tiers || []).map((tier) => `${tier.store_type}:${tier.resident_rate_bp}`).sort();
      if (!same(plain(c.tiers), plain(next))) out[key] = next;
    } else if (!same(c[key] ?? null, next ?? null)) {
      out[key] = next;
    }
  }
  return out;
}

/** A draft's terms back into the form, as the officer typed them (percent, Tokyo time). */
function prefillCampaignForm(form, c) {
  const set = (id, v) => { form.querySelector(`#${id}`).value = v === null || v === undefined ? "" : String(v); };
  const pct = (bp) => (bp === null || bp === undefined ? "" : String(Number((bp / 100).toFixed(2))));
  set("c-name", c.name);
  set("c-starts", tokyoLocalInput(new Date(c.starts_at)));
  set("c-ends", tokyoLocalInput(new Date(c.ends_at)));
  set("c-resident-rate", pct(c.resident_rate_bp));
  set("c-merchant-rate", pct(c.merchant_rate_bp));
  set("c-budget", c.budget);
  set("c-min-payment", c.min_payment);
  set("c-cap-payment", c.per_payment_cap);
  set("c-cap-monthly", c.per_resident_monthly_cap);
  set("c-cap-resident", c.per_resident_cap);
  set("c-expiry", c.points_expiry_days);
  form.querySelector(`#c-grant-${c.grant}`).checked = true;
  const tick = (name, values) => (values || []).forEach((v) => {
    const box = form.querySelector(`#${CSS.escape(`${name}-${v}`)}`);
    if (box) box.checked = true;
  });
  tick("elig-store", c.eligibility?.store_types);
  tick("elig-street", c.eligibility?.shopping_street_ids);
  tick("elig-category", c.eligibility?.categories);
  for (const tier of c.tiers || []) set(`c-tier-${tier.store_type}`, pct(tier.resident_rate_bp));
}

function readCampaignForm(form) {
  const errors = [];
  const fail = (id, key, values) => errors.push([id, t(key, values)]);

  const name = value(form, "c-name");
  if (!name) fail("c-name", "console.error.required", { field: t("console.campaign.name") });
  else if (name.length > 80) fail("c-name", "console.error.too_long_text", { max: 80 });

  const startsRaw = value(form, "c-starts");
  const endsRaw = value(form, "c-ends");
  const starts = startsRaw ? new Date(tokyoIso(startsRaw)) : null;
  const ends = endsRaw ? new Date(tokyoIso(endsRaw)) : null;
  if (!starts || Number.isNaN(starts.getTime())) fail("c-starts", "console.error.required", { field: t("console.campaign.starts_at") });
  if (!ends || Number.isNaN(ends.getTime())) fail("c-ends", "console.error.required", { field: t("console.campaign.ends_at") });
  if (starts && ends && !Number.isNaN(starts.getTime()) && !Number.isNaN(ends.getTime())) {
    if (ends <= starts) fail("c-ends", "console.error.end_before_start");
    else if (Math.floor((ends - starts) / 86400e3) > 366) fail("c-ends", "console.error.window_too_long");
  }

  const rate = (id, { required = false, label }) => {
    const raw = value(form, id);
    if (!raw) {
      if (required) fail(id, "console.error.required", { field: label });
      return null;
    }
    const pct = Number(String(raw).normalize("NFKC").replace(/\s+/gu, ""));
    if (!Number.isFinite(pct) || pct < 0 || pct > 100) { fail(id, "console.error.rate_range"); return null; }
    const bp = Math.round(pct * 100);
    if (Math.abs(bp - pct * 100) > 1e-6) { fail(id, "console.error.rate_precision"); return null; }
    return bp;
  };
  const whole = (id, { min, max, label, required = false }) => {
    const raw = value(form, id);
    if (!raw) {
      if (required) fail(id, "console.error.required", { field: label });
      return null;
    }
    const n = wholeNumber(raw);
    if (n === null || n < min || n > max) { fail(id, "console.error.whole_range", { min: number(min), max: number(max) }); return null; }
    return n;
  };

  const residentRate = rate("c-resident-rate", { required: true, label: t("console.campaign.resident_rate") });
  const merchantRate = rate("c-merchant-rate", { label: t("console.campaign.merchant_rate") }) ?? 0;
  const budget = whole("c-budget", { min: 1, max: 1e12, required: true, label: t("console.campaign.budget") });
  const minPayment = whole("c-min-payment", { min: 0, max: 1e9, label: "" }) ?? 0;
  const caps = {
    per_payment_cap: whole("c-cap-payment", { min: 1, max: 1e12 }),
    per_resident_monthly_cap: whole("c-cap-monthly", { min: 1, max: 1e12 }),
    per_resident_cap: whole("c-cap-resident", { min: 1, max: 1e12 }),
  };
  const present = Object.entries(caps).filter(([, v]) => v !== null);
  for (let i = 1; i < present.length; i++) {
    const [small, low] = present[i - 1];
    const [large, high] = present[i];
    if (low > high) {
      fail(FIELD_IDS[large], "console.error.cap_order", {
        small: t(`console.campaign.${small}`), large: t(`console.campaign.${large}`),
      });
    }
  }
  if (budget !== null) {
    for (const [name, cap] of present) {
      if (cap > budget) fail(FIELD_IDS[name], "console.error.cap_above_budget");
    }
  }
  const expiry = whole("c-expiry", { min: 1, max: 3650, required: true, label: t("console.campaign.points_expiry_days") });
  const grant = form.querySelector("input[name='c-grant']:checked")?.value || "immediate";

  const checked = (name) => [...form.querySelectorAll(`input[name='${name}']:checked`)].map((el) => el.value);
  const eligibility = {
    shopping_street_ids: checked("elig-street").map(Number),
    categories: checked("elig-category"),
    store_types: checked("elig-store"),
  };
  const tiers = [];
  for (const storeType of STORE_TYPES) {
    const bp = rate(`c-tier-${storeType}`, {});
    if (bp === null) continue;
    if (eligibility.store_types.length && !eligibility.store_types.includes(storeType)) {
      fail(`c-tier-${storeType}`, "console.error.tier_excluded", { type: storeTypeName(storeType) });
      continue;
    }
    tiers.push({ store_type: storeType, resident_rate_bp: bp });
  }
  if (residentRate === 0 && merchantRate === 0 && !tiers.some((tier) => tier.resident_rate_bp > 0)) {
    fail("c-resident-rate", "console.error.all_zero");
  }

  return {
    errors,
    body: {
      name, starts_at: tokyoIso(startsRaw), ends_at: tokyoIso(endsRaw),
      resident_rate_bp: residentRate, merchant_rate_bp: merchantRate, budget, ...caps,
      min_payment: minPayment, grant, points_expiry_days: expiry, eligibility, tiers,
    },
  };
}

/** The server's own words for a rule it checks, in the page's language where we know them. */
function localizeServerMessage(message) {
  const text = String(message || "").replace(/^Value error, /, "");
  const rules = [
    [/ends_at must be after starts_at/, "c-ends", "console.error.end_before_start"],
    [/ends_at is in the past/, "c-ends", "console.error.ends_past"],
    [/runs at most \d+ days/, "c-ends", "console.error.window_too_long"],
    [/every rate at 0/, "c-resident-rate", "console.error.all_zero"],
    [/^(per_\w+_cap) \(\d+\) is above the whole budget/, null, "console.error.cap_above_budget"],
    [/^(per_\w+_cap) \(\d+\) is above (per_\w+_cap)/, null, "console.error.cap_order_server"],
    [/tiers? .*(overlap|eligibility excludes)/, "c-tiers", "console.error.tiers_server"],
    [/^eligibility:/, "c-eligibility", "console.error.eligibility_server"],
  ];
  for (const [pattern, id, key] of rules) {
    const match = text.match(pattern);
    if (match) return { id: id || FIELD_IDS[match[1]], message: t(key, { detail: text }) };
  }
  return { id: null, message: text };
}

function showServerErrors(form, error) {
  if (!(error instanceof ApiError) || error.status !== 422) {
    showFormSummary(form, [describeError(error)]);
    return;
  }
  const messages = [];
  const pairs = problemFieldErrors(error);
  if (!pairs.length) pairs.push(["", error.problem.detail || ""]);
  for (const [path, raw] of pairs) {
    const top = path.split(".")[0];
    const local = localizeServerMessage(raw);
    const id = FIELD_IDS[top] || local.id;
    const label = id ? (form.querySelector(`label[for='${id}']`) || form.querySelector(`#${id} legend, #${id} h2`))?.firstChild?.textContent : null;
    if (id) setFieldError(form, id, local.message);
    messages.push(label && !local.id ? `${label}: ${local.message}` : local.message);
  }
  showFormSummary(form, messages);
}

// -- detail -------------------------------------------------------------------------------

const ACTION_KEYS = ["create", "update", "submit", "reject", "approve", "end", "close", "withdraw"];

/** ¥a〜¥b, or one figure when both ends agree (the estimate's range). */
function rangeText([from, to]) {
  if (from === null || to === null) return HIDDEN;
  return from === to ? yen(to) : `${yen(from)}${TO}${yen(to)}`;
}

// A figure disclosure control withheld (too few residents or shops behind it): a dash the
// reader is told about, never a zero.
const HIDDEN = "—";

function hiddenFigure(value, format, minResidents) {
  if (value !== null && value !== undefined) return format(value);
  return h("span", { class: "suppressed", title: t("console.hidden.title", { k: minResidents ?? "k" }) },
    h("span", { "aria-hidden": "true" }, HIDDEN),
    h("span", { class: "sr-only" }, t("console.hidden.title", { k: minResidents ?? "k" })),
  );
}

function actorLabel(actorId, username) {
  if (actorId === null || actorId === undefined) return t("console.audit.system");
  if (actorId === state.me.user_id) return t("console.audit.you", { username: state.me.username });
  return username || t("console.audit.staff", { id: actorId });
}

function auditList(entries) {
  if (!entries.length) return emptyBox();
  return h("ol", { class: "audit", id: "audit-trail" }, entries.map((entry) => {
    const status = entry.changes?.status;
    const details = [];
    if (Array.isArray(status)) details.push(`${t(`console.status.${status[0]}`)} → ${t(`console.status.${status[1]}`)}`);
    if (entry.changes?.reason) details.push(t("console.audit.reason", { reason: entry.changes.reason }));
    if (entry.changes?.end_reason) details.push(t(`console.end_reason.${entry.changes.end_reason}`));
    if (entry.action === "update") details.push(t("console.audit.fields", { fields: Object.keys(entry.changes).join(", ") }));
    return h("li", { dataset: { action: entry.action, actor: entry.actor_id ?? "" } },
      h("div", { class: "audit-head" },
        h("strong", {}, ACTION_KEYS.includes(entry.action) ? t(`console.audit.action.${entry.action}`) : entry.action),
        h("span", { class: "muted" }, dateTime(entry.at, { second: "2-digit" })),
      ),
      h("div", {}, actorLabel(entry.actor_id, entry.actor)),
      details.length ? h("div", { class: "muted" }, details.join(" · ")) : null,
    );
  }));
}

function termsOf(c) {
  const cap = (v) => (v === null || v === undefined ? t("console.form.no_cap") : `${number(v)} pt`);
  const list = (values, name) => (values?.length ? values.map(name).join(t("console.list_sep")) : t("console.campaign.all"));
  return definitionList([
    [t("console.campaign.period"), `${dateTime(c.starts_at)}${TO}${dateTime(c.ends_at)}`],
    [t("console.campaign.resident_rate"), percent(c.resident_rate_bp)],
    [t("console.campaign.merchant_rate"), percent(c.merchant_rate_bp)],
    [t("console.campaign.budget"), yen(c.budget)],
    [t("console.campaign.per_payment_cap"), cap(c.per_payment_cap)],
    [t("console.campaign.per_resident_monthly_cap"), cap(c.per_resident_monthly_cap)],
    [t("console.campaign.per_resident_cap"), cap(c.per_resident_cap)],
    [t("console.campaign.min_payment"), yen(c.min_payment)],
    [t("console.campaign.grant"), t(`console.grant.${c.grant}`)],
    [t("console.campaign.points_expiry_days"), `${number(c.points_expiry_days)} ${t("console.unit.days")}`],
    [t("console.campaign.store_types"), list(c.eligibility?.store_types, storeTypeName)],
    [t("console.campaign.streets"), list(c.eligibility?.shopping_street_ids, streetName)],
    [t("console.campaign.categories"), list(c.eligibility?.categories, categoryName)],
    [t("console.form.tiers"), c.tiers?.length ? c.tiers.map((tier) => `${storeTypeName(tier.store_type)} ${percent(tier.resident_rate_bp)}`).join(t("console.list_sep")) : t("console.campaign.no_tiers")],
    c.end_reason ? [t("console.campaign.end_reason"), t(`console.end_reason.${c.end_reason}`)] : null,
  ]);
}

function chartTime(ms, { withDate = true, seconds = true } = {}) {
  return new Date(ms).toLocaleString(lang === "en" ? "en-GB" : "ja-JP", {
    timeZone: "Asia/Tokyo", hour: "2-digit", minute: "2-digit",
    ...(withDate ? { month: "numeric", day: "numeric" } : {}), ...(seconds ? { second: "2-digit" } : {}),
  });
}

/** Axis labels: the date when the line spans days, seconds when it spans minutes. */
function tickTime(value, scale) {
  const span = scale.max - scale.min;
  return chartTime(value, { withDate: span > 86400e3, seconds: span < 3600e3 });
}

/** The burn chart: budget remaining over time, from the approval's full budget on. */
function burnChart(canvas, summary) {
  const points = [];
  let budget = 0;
  let chart = null;
  const publish = () => {
    canvas.dataset.points = JSON.stringify(points.map((p) => [p.x, p.y]));
    const last = points.at(-1);
    summary.textContent = last ? t("console.burn.summary", { count: points.length, remaining: yen(last.y), at: chartTime(last.x) }) : "";
  };
  function draw() {
    if (typeof Chart === "undefined") return;
    if (!chart) {
      chart = new Chart(canvas, {
        type: "line",
        data: { datasets: [{
          label: t("console.campaign.remaining"), data: points, borderColor: "#0a7d4f", backgroundColor: "rgba(10,125,79,0.12)",
          fill: true, pointRadius: 3, tension: 0, stepped: false,
        }] },
        options: {
          responsive: true, maintainAspectRatio: false, animation: { duration: 250 }, parsing: false,
          plugins: {
            legend: { display: false },
            tooltip: { callbacks: { title: (items) => chartTime(items[0].parsed.x), label: (item) => yen(item.parsed.y) } },
          },
          scales: {
            x: { type: "linear", ticks: { maxTicksLimit: 5, maxRotation: 0, callback(v) { return tickTime(v, this); } } },
            y: { beginAtZero: false, suggestedMax: budget, ticks: { callback: (v) => yen(v) } },
          },
        },
      });
    } else {
      chart.update();
    }
  }
  return {
    points,
    /** The whole curve from the database, then the live figure if it moved since. */
    async load(campaignId, campaign) {
      try {
        const history = await api.get(`/api/v1/campaigns/${campaignId}/burn`);
        if (!history.points.length) { this.start(campaign); return; }
        points.length = 0;
        budget = history.budget;
        for (const p of history.points) points.push({ x: new Date(p.at).getTime(), y: p.remaining });
        canvas.dataset.history = String(history.points.length);
        publish();
        draw();
        this.observe(campaign);
      } catch {
        this.start(campaign); // the live line still works without its history
      }
    },
    start(campaign) {
      points.length = 0;
      budget = campaign.budget;
      if (campaign.approved_at) points.push({ x: new Date(campaign.approved_at).getTime(), y: campaign.budget });
      points.push({ x: Date.now(), y: campaign.budget_remaining });
      publish();
      draw();
    },
    observe(campaign) {
      const last = points.at(-1);
      if (!last) { this.start(campaign); return false; }
      if (last.y === campaign.budget_remaining) return false;
      points.push({ x: Date.now(), y: campaign.budget_remaining });
      publish();
      draw();
      return true;
    },
    destroy() { chart?.destroy(); chart = null; },
  };
}

async function renderDetail(view, id) {
  fill(view, loadingBox());
  let [campaign, audit] = await Promise.all([
    api.get(`/api/v1/campaigns/${id}`), api.get(`/api/v1/campaigns/${id}/audit`),
  ]);

  const badgeSlot = h("span", { id: "campaign-status" }, statusBadge(campaign.status));
  const actions = h("div", { class: "row actions", id: "campaign-actions" });
  const actionError = h("div", { id: "action-error", hidden: true });
  const actionNote = h("p", { class: "hint", id: "approve-note", hidden: true });
  const remainingEl = h("span", { id: "budget-remaining" });
  const kpis = h("div", { class: "kpis" });
  const burnSummary = h("p", { class: "sr-only", id: "burn-summary", "aria-live": "polite" });
  const canvas = h("canvas", { id: "burn-chart", role: "img", "aria-label": t("console.burn.label"), "aria-describedby": "burn-summary" });
  const burnCard = h("section", { class: "card", id: "burn-card" },
    h("div", { class: "spread" }, h("h2", {}, t("console.burn.title")), h("span", { class: "live-dot muted" }, t("console.burn.live"))),
    h("p", { class: "hint" }, t("console.burn.hint")),
    h("div", { class: "chart-box" }, canvas),
    burnSummary,
  );
  const burn = burnChart(canvas, burnSummary);
  const auditCard = h("section", { class: "card" }, h("h2", {}, t("console.audit.title")), auditList(audit));
  const termsCard = h("section", { class: "card" }, h("h2", {}, t("console.campaign.terms")), termsOf(campaign));
  const totalsCard = h("section", { class: "card", id: "totals-card" });
  const estimateCard = h("section", { class: "card", id: "estimate-card" });
  const withdrawnNote = h("p", { class: "alert alert-info", id: "withdrawn-note", hidden: true });

  function figures() {
    const funded = FUNDED.has(campaign.status);
    remainingEl.textContent = yen(funded ? campaign.budget_remaining : campaign.budget);
    const r = campaign.rewards;
    kpis.replaceChildren(
      kpi(funded ? t("console.campaign.remaining") : t("console.campaign.budget_unfunded"), remainingEl, { cls: "kpi-main", note: funded ? t("console.campaign.of_budget", { budget: yen(campaign.budget) }) : null }),
      kpi(t("console.campaign.used"), yen(funded ? campaign.budget - campaign.budget_remaining : 0)),
      kpi(t("console.campaign.resident_points"), `${number(r.resident_points)} pt`),
      kpi(t("console.campaign.merchant_cashback"), yen(r.merchant_cashback)),
      kpi(t("console.campaign.payments"), number(r.payments), { id: "rewarded-payments", note: r.pending ? t("console.campaign.pending", { n: number(r.pending) }) : null }),
    );
    burnCard.hidden = !funded;
    // A withdrawn campaign never runs: say so, and estimate nothing for it.
    const withdrawn = campaign.status === "withdrawn";
    withdrawnNote.hidden = !withdrawn;
    withdrawnNote.textContent = withdrawn ? t("console.campaign.withdrawn_note", { at: campaign.withdrawn_at ? dateTime(campaign.withdrawn_at) : "–" }) : "";
    estimateCard.hidden = withdrawn;
  }

  function submitterId() {
    const submitted = [...audit].reverse().find((a) => a.action === "submit");
    return submitted?.actor_id ?? campaign.submitted_by;
  }

  async function act(button, path, body, done) {
    actionError.hidden = true;
    await busy(button, async () => {
      try {
        campaign = await api.post(`/api/v1/campaigns/${id}/${path}`, body);
        audit = await api.get(`/api/v1/campaigns/${id}/audit`);
        toast(done);
        refresh(true);
      } catch (error) {
        showError(actionError, error);
        actionError.focus?.();
      }
    });
  }

  function buildActions() {
    actions.replaceChildren();
    actionNote.hidden = true;
    const me = state.me;
    const s = campaign.status;
    if (s === "draft" && can.writeCampaigns()) {
      const submit = h("button", { type: "button", class: "btn", id: "submit-campaign" }, t("console.campaign.submit"));
      submit.addEventListener("click", () => act(submit, "submit", undefined, t("console.campaign.submitted_toast")));
      actions.append(submit);
    }
    if (EDITABLE.has(s) && can.writeCampaigns()) {
      actions.append(h("a", { class: "btn btn-secondary", href: `#/campaigns/${id}/edit`, id: "edit-campaign" }, t("console.campaign.edit")));
      const withdraw = h("button", { type: "button", class: "btn btn-secondary", id: "withdraw-campaign" }, t("console.campaign.withdraw"));
      withdraw.addEventListener("click", () => askWithdraw(withdraw));
      actions.append(withdraw);
    }
    if (s === "submitted" && can.writeCampaigns()) {
      const approve = h("button", { type: "button", class: "btn", id: "approve-campaign", "aria-describedby": "approve-note" }, t("console.campaign.approve"));
      // Whoever created, edited or submitted it cannot approve it (the server refuses too).
      const editors = audit.filter((a) => a.action === "update").map((a) => a.actor_id);
      const own = [submitterId(), campaign.created_by, ...editors].includes(me.user_id);
      if (own || !can.approveCampaigns()) {
        approve.disabled = true;
        actionNote.textContent = own ? t("console.campaign.approve_self") : t("console.campaign.approve_role");
        actionNote.hidden = false;
      }
      approve.addEventListener("click", () => confirmApprove(approve));
      actions.append(approve);
      if (can.approveCampaigns()) {
        const reject = h("button", { type: "button", class: "btn btn-secondary", id: "reject-campaign" }, t("console.campaign.reject"));
        reject.addEventListener("click", () => askReject(reject));
        actions.append(reject);
      }
    }
    if ((s === "approved" || s === "active") && can.writeCampaigns()) {
      const end = h("button", { type: "button", class: "btn btn-danger", id: "end-campaign" }, t("console.campaign.end"));
      end.addEventListener("click", () => confirmEnd(end));
      actions.append(end);
    }
    if (FUNDED.has(s)) {
      actions.append(h("a", { class: "btn btn-secondary", href: `#/campaigns/${id}/report`, id: "report-link" }, t("console.report.open")));
    }
  }

  function askReject(button) {
    const reason = h("textarea", { id: "reject-reason", maxlength: "500", rows: "3" });
    const dialog = h("dialog", { "aria-labelledby": "reject-title" },
      h("form", { method: "dialog" },
        h("h2", { id: "reject-title" }, t("console.campaign.reject_title")),
        h("div", { class: "field" }, h("label", { for: "reject-reason" }, t("console.campaign.reject_reason")), reason),
        h("div", { class: "form-actions" },
          h("button", { class: "btn btn-secondary", value: "cancel" }, t("action.cancel")),
          h("button", { class: "btn btn-danger", value: "ok", id: "reject-confirm" }, t("console.campaign.reject")),
        ),
      ),
    );
    dialog.addEventListener("close", () => {
      if (dialog.returnValue === "ok") act(button, "reject", { reason: reason.value.trim() || null }, t("console.campaign.rejected_toast"));
      dialog.remove();
    });
    document.body.append(dialog);
    dialog.showModal();
  }

  /** Approval moves money: say how much leaves bank:city and on what terms, then ask. */
  async function confirmApprove(button) {
    const answer = await confirmDialog({
      id: "approve-dialog", opener: button,
      title: t("console.campaign.approve_title", { name: campaign.name }),
      body: [
        h("div", { class: "money-move", id: "approve-money" },
          h("div", { class: "kpi-label" }, t("console.campaign.approve_moves")),
          h("div", { class: "figure" }, yen(campaign.budget)),
          h("div", { class: "money-move-accounts" },
            h("code", {}, "bank:city"), h("span", { "aria-hidden": "true" }, " → "),
            h("span", { class: "sr-only" }, t("console.campaign.approve_to")),
            h("code", {}, `campaign:${campaign.id}:budget`)),
        ),
        h("p", {}, t("console.campaign.approve_effect", { from: dateTime(campaign.starts_at) })),
        termsOf(campaign),
      ],
      confirmLabel: t("console.campaign.approve_confirm", { budget: yen(campaign.budget) }),
    });
    if (answer) act(button, "approve", undefined, t("console.campaign.approved_toast"));
  }

  async function askWithdraw(button) {
    const answer = await confirmDialog({
      id: "withdraw-dialog", opener: button, danger: true,
      title: t("console.campaign.withdraw_title", { name: campaign.name }),
      body: [h("p", {}, t("console.campaign.withdraw_text"))],
      reason: { label: t("console.campaign.withdraw_reason"), required: false, max: 500, hint: t("console.campaign.withdraw_reason_hint") },
      confirmLabel: t("console.campaign.withdraw"),
    });
    if (answer) act(button, "withdraw", { reason: answer.reason }, t("console.campaign.withdrawn_toast"));
  }

  function confirmEnd(button) {
    const dialog = h("dialog", { "aria-labelledby": "end-title" },
      h("form", { method: "dialog" },
        h("h2", { id: "end-title" }, t("console.campaign.end_title")),
        h("p", {}, t("console.campaign.end_text")),
        h("div", { class: "form-actions" },
          h("button", { class: "btn btn-secondary", value: "cancel" }, t("action.cancel")),
          h("button", { class: "btn btn-danger", value: "ok", id: "end-confirm" }, t("console.campaign.end")),
        ),
      ),
    );
    dialog.addEventListener("close", () => {
      if (dialog.returnValue === "ok") act(button, "end", undefined, t("console.campaign.ended_toast"));
      dialog.remove();
    });
    document.body.append(dialog);
    dialog.showModal();
  }

  function refresh(statusChanged) {
    badgeSlot.replaceChildren(statusBadge(campaign.status));
    figures();
    if (statusChanged) {
      buildActions();
      auditCard.replaceChildren(h("h2", {}, t("console.audit.title")), auditList(audit));
      termsCard.replaceChildren(h("h2", {}, t("console.campaign.terms")), termsOf(campaign));
      if (FUNDED.has(campaign.status) && !burn.points.length) burn.load(id, campaign);
      loadTotals();
    }
    if (FUNDED.has(campaign.status) && burn.observe(campaign) && !statusChanged) loadTotals({ quiet: true });
  }

  let totalsBy = "shopping_street";
  let totalsBody = null;
  /** The totals card; quiet: refresh the figures in place (after a payment), no spinner. */
  async function loadTotals({ quiet = false } = {}) {
    let body = totalsBody;
    if (!quiet || !body) {
      const select = field({
        id: "totals-by", label: t("console.totals.by"), kind: "select",
        options: ["shopping_street", "category", "store_type"].map((b) => [b, t(`console.totals.by.${b}`)]),
      });
      select.querySelector("select").value = totalsBy;
      select.querySelector("select").addEventListener("change", (e) => { totalsBy = e.target.value; loadTotals(); });
      body = totalsBody = h("div", {}, loadingBox());
      totalsCard.replaceChildren(h("div", { class: "spread" }, h("h2", {}, t("console.totals.title")), select), body);
    }
    try {
      const totals = await api.get(`/api/v1/campaigns/${id}/totals?by=${totalsBy}`);
      const name = (row) => (totalsBy === "store_type" ? storeTypeName(row.key) : totalsBy === "category" ? (row.key ? categoryName(row.key) : "–") : (row.key ? streetName(row.key) : t("street.none")));
      fill(body, totals.rows.length
        ? table(
          [t(`console.totals.by.${totalsBy}`), { text: t("console.campaign.payments"), num: true }, { text: t("console.campaign.resident_points"), num: true }, { text: t("console.campaign.merchant_cashback"), num: true }],
          totals.rows.map((row) => h("tr", { dataset: { suppressed: String(Boolean(row.suppressed)) } }, cell([name(row), row.suppressed ? reasonUnderName(row.suppressed_reason) : null]),
            ...(row.suppressed
              ? [suppressedCells(row.suppressed_reason, 3)]
              : [cell(number(row.payments), { num: true }), cell(`${number(row.resident_points)} pt`, { num: true }), cell(yen(row.merchant_cashback), { num: true })]))),
          { id: "totals-table", caption: t("console.totals.title") },
        )
        : emptyBox(t("console.totals.empty")),
      totals.suppressed ? h("p", { class: "hint", id: "totals-suppressed-note" }, t("console.totals.suppressed_note", { n: totals.suppressed, k: totals.min_residents })) : null,
      h("p", { class: "hint" }, t("console.totals.as_of", { at: dateTime(totals.as_of) })));
    } catch (error) {
      body.replaceChildren(errorBox(error, () => loadTotals()));
    }
  }

  async function loadEstimate(uplift = 10) {
    const input = h("input", { id: "uplift", type: "number", min: "0", max: "500", step: "1", value: String(uplift), inputmode: "numeric", "aria-describedby": "uplift-hint" });
    const run = h("button", { type: "submit", class: "btn btn-secondary", id: "estimate-run" }, t("console.estimate.run"));
    const form = h("form", { class: "estimate-form", novalidate: true },
      h("div", { class: "field" },
        h("label", { for: "uplift" }, t("console.estimate.uplift")),
        h("div", { class: "input-suffix" }, input, h("span", { "aria-hidden": "true" }, "%")),
        h("p", { class: "hint", id: "uplift-hint" }, t("console.estimate.uplift_hint")),
      ),
      run,
    );
    const body = h("div", { id: "estimate-body" }, loadingBox());
    estimateCard.replaceChildren(h("h2", {}, t("console.estimate.title")), form, body);
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      const n = wholeNumber(input.value) ?? Number.NaN;
      if (!Number.isInteger(n) || n < 0 || n > 500) {
        body.replaceChildren(h("p", { class: "alert alert-error", role: "alert" }, t("console.estimate.uplift_range")));
        return;
      }
      loadEstimate(n);
    });
    try {
      const [low, high] = await Promise.all([
        api.get(`/api/v1/campaigns/${id}/estimate?uplift_percent=0`),
        api.get(`/api/v1/campaigns/${id}/estimate?uplift_percent=${uplift}`),
      ]);
      const covered = high.budget_covers_expected_cost;
      fill(body,
        high.baseline_spend === 0 ? h("p", { class: "alert alert-info", id: "estimate-no-baseline" }, t("console.estimate.no_baseline")) : null,
        high.suppressed ? h("p", { class: "alert alert-info", id: "estimate-hidden" }, t("console.estimate.hidden")) : null,
        h("div", { class: "estimate-range" },
          h("div", { class: "kpi-label" }, t("console.estimate.range", { uplift })),
          h("div", { class: "figure", id: "estimate-range" }, rangeText(high.expected_cost_range ?? [low.expected_cost, high.expected_cost])),
          covered === null || covered === undefined
            ? null
            : h("span", { class: `badge ${covered ? "" : "badge-red"}` }, covered ? t("console.estimate.covered") : t("console.estimate.not_covered")),
        ),
        definitionList([
          [t("console.estimate.points"), high.suppressed ? hiddenFigure(null, yen, high.min_residents) : `${number(low.expected_resident_points)}${TO}${number(high.expected_resident_points)} pt`],
          [t("console.estimate.cashback"), high.suppressed ? hiddenFigure(null, yen, high.min_residents) : `${yen(low.expected_merchant_cashback)}${TO}${yen(high.expected_merchant_cashback)}`],
          [t("console.estimate.spend"), high.suppressed ? hiddenFigure(null, yen, high.min_residents) : `${yen(low.expected_spend)}${TO}${yen(high.expected_spend)}`],
          [t("console.estimate.baseline"), t("console.estimate.baseline_value", { spend: high.baseline_spend === null ? HIDDEN : yen(high.baseline_spend), from: dateOnly(high.baseline.from), to: dateOnly(high.baseline.to), days: high.baseline.days })],
          [t("console.estimate.shops"), number(high.eligible_shops)],
          [t("console.estimate.lasts"), high.budget_lasts_days === null ? "–" : t("console.estimate.lasts_value", { days: number(high.budget_lasts_days) })],
        ]),
        h("details", { class: "method" },
          h("summary", {}, t("console.estimate.method")),
          h("p", {}, t("console.estimate.method_text")),
        ),
      );
    } catch (error) {
      body.replaceChildren(errorBox(error, () => loadEstimate(uplift)));
    }
  }

  fill(view,
    h("p", { class: "crumbs" }, h("a", { href: "#/campaigns" }, `← ${t("console.nav.campaigns")}`)),
    h("div", { class: "page-header" },
      h("div", { class: "title-row" }, h("h1", { tabindex: "-1", class: "view-title", id: "campaign-name" }, campaign.name), badgeSlot),
      actions,
    ),
    actionNote,
    actionError,
    withdrawnNote,
    kpis,
    burnCard,
    h("div", { class: "grid-2" }, estimateCard, termsCard),
    h("div", { class: "grid-wide" }, totalsCard, auditCard),
  );
  figures();
  buildActions();
  if (FUNDED.has(campaign.status)) await burn.load(id, campaign);
  loadTotals();
  loadEstimate();

  let stopped = false;
  let timer = null;
  async function poll() {
    if (stopped) return;
    if (document.visibilityState === "visible") {
      try {
        const fresh = await api.get(`/api/v1/campaigns/${id}`);
        if (stopped) return;
        const changed = fresh.status !== campaign.status;
        campaign = fresh;
        if (changed) audit = await api.get(`/api/v1/campaigns/${id}/audit`);
        refresh(changed);
      } catch { /* a missed poll is retried in two seconds */ }
    }
    if (!stopped) timer = setTimeout(poll, POLL_MS);
  }
  timer = setTimeout(poll, POLL_MS);
  const onVisible = () => { if (document.visibilityState === "visible" && !stopped) { clearTimeout(timer); poll(); } };
  document.addEventListener("visibilitychange", onVisible);
  return () => {
    stopped = true;
    clearTimeout(timer);
    document.removeEventListener("visibilitychange", onVisible);
    burn.destroy();
    document.querySelectorAll("dialog").forEach((d) => d.remove());
  };
}

// -- effect report ------------------------------------------------------------------------

const HIDDEN_REASONS = ["few_residents", "dominant_shop", "complementary"];

/** The reason again under the row's name, for a phone, where the wide table scrolls the
 * reason cell out of view (hidden from screen readers: the cell says it already). */
function reasonUnderName(reason) {
  const code = HIDDEN_REASONS.includes(reason) ? reason : "few_residents";
  return h("div", { class: "row-reason", "aria-hidden": "true" }, t(`console.hidden.${code}`));
}

/** A hidden row's figures: one cell across them that says why (k residents, a dominant
 * shop, or complementary suppression), never a number. */
function suppressedCells(reason, span) {
  const code = HIDDEN_REASONS.includes(reason) ? reason : "few_residents";
  return h("td", { class: "suppressed suppressed-reason", colspan: String(span), dataset: { reason: code } },
    t(`console.hidden.${code}`));
}

async function renderReport(view, id) {
  fill(view, loadingBox());
  const [campaign, report] = await Promise.all([
    api.get(`/api/v1/campaigns/${id}`), api.get(`/api/v1/campaigns/${id}/report`),
  ]);
  const k = report.min_residents;
  const upliftText = report.uplift === null
    ? hiddenFigure(null, yen, report.min_residents)
    : report.uplift_percent === null ? yen(report.uplift) : `${yen(report.uplift)} (${report.uplift >= 0 ? "+" : ""}${report.uplift_percent}%)`;
  const hiddenFigures = Object.keys(report.suppressed_figures ?? {});
  const canvas = h("canvas", { id: "report-chart", role: "img", "aria-label": t("console.report.chart_label"), "aria-describedby": "report-table-caption" });
  const rows = report.by_shopping_street;
  const streetLabel = (row) => (row.shopping_street_id === null ? t("street.none") : streetName(row.shopping_street_id));
  fill(view,
    h("p", { class: "crumbs" }, h("a", { href: `#/campaigns/${id}` }, `← ${campaign.name}`)),
    h("div", { class: "page-header" },
      h("div", { class: "title-row" },
        h("h1", { tabindex: "-1", class: "view-title" }, t("console.report.title")),
        h("span", { class: `badge ${report.final ? "" : "badge-warn"}`, id: "report-final" }, report.final ? t("console.report.final") : t("console.report.interim")),
      ),
    ),
    h("p", { class: "muted" }, t("console.report.period", {
      name: campaign.name, from: dateTime(report.period.from), to: dateTime(report.period.to),
      bfrom: dateTime(report.baseline.from), bto: dateTime(report.baseline.to),
    })),
    h("div", { class: "kpis" },
      kpi(t("console.report.spend"), hiddenFigure(report.spend, yen, k), { id: "report-spend", cls: "kpi-main", note: t("console.report.baseline_note", { baseline: report.baseline_spend === null ? HIDDEN : yen(report.baseline_spend) }) }),
      kpi(t("console.report.uplift"), upliftText, { id: "report-uplift", cls: report.uplift === null ? "" : report.uplift >= 0 ? "kpi-up" : "kpi-down" }),
      kpi(t("console.report.new_to_shop"), report.new_to_shop === null ? hiddenFigure(null, number, k) : t("console.report.people", { n: number(report.new_to_shop) }), { id: "report-new", note: t("console.report.new_to_shop_note") }),
      kpi(t("console.report.cost_per_yen"), report.cost_per_yen_of_uplift === null ? (report.uplift === null ? hiddenFigure(null, yen, k) : t("console.report.no_uplift")) : `¥${report.cost_per_yen_of_uplift}`, { id: "report-cost-per-yen", note: t("console.report.cost_note", { cost: yen(report.budget_used) }) }),
      kpi(t("console.report.payments"), hiddenFigure(report.payments, number, k), { id: "report-payments", note: t("console.report.baseline_note", { baseline: report.baseline_payments === null ? HIDDEN : number(report.baseline_payments) }) }),
    ),
    hiddenFigures.length ? h("p", { class: "hint", id: "report-hidden-note" }, t("console.report.hidden_note", { k })) : null,
    h("section", { class: "card" },
      h("h2", {}, t("console.report.by_street")),
      h("div", { class: "chart-box chart-box-tall" }, canvas),
      report.suppressed ? h("p", { class: "hint", id: "report-suppressed-note" }, t("console.report.suppressed_note", { n: report.suppressed, k })) : null,
      rows.length ? h("div", { class: "table-wrap", tabindex: "0", role: "region", "aria-label": t("console.report.by_street") }, h("table", { id: "report-table" },
        h("caption", { id: "report-table-caption", class: "sr-only" }, t("console.report.by_street")),
        h("thead", {}, h("tr", {},
          h("th", { scope: "col" }, t("console.totals.by.shopping_street")),
          h("th", { scope: "col", class: "num" }, t("console.report.spend")),
          h("th", { scope: "col", class: "num" }, t("console.report.baseline")),
          h("th", { scope: "col", class: "num" }, t("console.report.payments")),
          h("th", { scope: "col", class: "num" }, t("console.report.baseline_payments")),
        )),
        h("tbody", {}, rows.map((row) => h("tr", { dataset: { suppressed: String(row.suppressed) } },
          h("th", { scope: "row" }, streetLabel(row), row.suppressed ? reasonUnderName(row.suppressed_reason) : null),
          ...(row.suppressed
            ? [suppressedCells(row.suppressed_reason, 4)]
            : [cell(yen(row.spend), { num: true }), cell(yen(row.baseline_spend), { num: true }), cell(number(row.payments), { num: true }), cell(number(row.baseline_payments), { num: true })]),
        ))),
      )) : emptyBox(t("console.report.no_streets")),
    ),
    h("section", { class: "card" },
      h("h2", {}, t("console.report.budget")),
      h("div", { class: "chart-box chart-box-short" }, h("canvas", { id: "report-budget-chart", role: "img", "aria-label": t("console.report.budget_label", { used: yen(report.budget_used), remaining: yen(report.budget_remaining) }) })),
      definitionList([
        [t("console.campaign.budget"), yen(report.budget)],
        [t("console.campaign.used"), yen(report.budget_used)],
        [t("console.campaign.resident_points"), `${number(report.resident_points)} pt`],
        [t("console.campaign.merchant_cashback"), yen(report.merchant_cashback)],
        [t("console.campaign.remaining"), yen(report.budget_remaining)],
        [t("console.report.pending"), `${number(report.pending_grants)} pt`],
        [t("console.report.unrecovered"), `${number(report.unrecovered_revocations)} pt`],
        [t("console.estimate.shops"), number(report.eligible_shops)],
      ]),
    ),
  );
  const charts = [];
  if (typeof Chart !== "undefined") {
    const labels = rows.map((row) => (row.suppressed ? `${streetLabel(row)} (${t(`console.hidden.short.${row.suppressed_reason || "few_residents"}`)})` : streetLabel(row)));
    canvas.dataset.suppressed = JSON.stringify(rows.filter((r) => r.suppressed).map(streetLabel));
    charts.push(new Chart(canvas, {
      type: "bar",
      data: {
        labels,
        datasets: [
          { label: t("console.report.spend"), data: rows.map((r) => r.spend ?? 0), backgroundColor: "#0a7d4f" },
          { label: t("console.report.baseline"), data: rows.map((r) => r.baseline_spend ?? 0), backgroundColor: "#9aa8a1" },
        ],
      },
      options: {
        responsive: true, maintainAspectRatio: false, indexAxis: rows.length > 6 ? "y" : "x",
        plugins: { tooltip: { callbacks: { label: (item) => (rows[item.dataIndex].suppressed ? `${item.dataset.label}: ${t(`console.hidden.${rows[item.dataIndex].suppressed_reason || "few_residents"}`)}` : `${item.dataset.label}: ${yen(item.raw)}`) } } },
        scales: { [rows.length > 6 ? "x" : "y"]: { beginAtZero: true, ticks: { callback: (v) => yen(v) } } },
      },
    }));
    charts.push(new Chart(view.querySelector("#report-budget-chart"), {
      type: "bar",
      data: {
        labels: [t("console.campaign.budget")],
        datasets: [
          { label: t("console.campaign.resident_points"), data: [report.resident_points], backgroundColor: "#0a7d4f" },
          { label: t("console.campaign.merchant_cashback"), data: [report.merchant_cashback], backgroundColor: "#1d4ed8" },
          { label: t("console.campaign.remaining"), data: [report.budget_remaining], backgroundColor: "#d6dfda" },
        ],
      },
      options: {
        indexAxis: "y", responsive: true, maintainAspectRatio: false,
        scales: { x: { stacked: true, ticks: { callback: (v) => yen(v) } }, y: { stacked: true, display: false } },
        plugins: { tooltip: { callbacks: { label: (item) => `${item.dataset.label}: ${yen(item.raw)}` } } },
      },
    }));
  }
  return () => charts.forEach((c) => c.destroy());
}
