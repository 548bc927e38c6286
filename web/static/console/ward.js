// The ward's own data: shopping streets, merchant applications and shops, notices.

import { h, t, dateTime, number, toast, showError } from "/static/js/core.js";
import {
  api, state, can, loadReference, statusBadge, pageHeader, loadingBox, emptyBox, errorBox, table, cell,
  field, setFieldError, clearFieldErrors, showFormSummary, problemFieldErrors, districtName, streetName,
  categoryName, storeTypeName, busy,
  fill, confirmDialog,
} from "/static/console/ui.js";
import { applicationDetails, batchBar, canImport, importScreen, rejectControl, selectBox } from "/static/console/applications.js";

export async function render(view, screen, parts) {
  if (screen === "streets") return renderStreets(view);
  if (screen === "notices") return renderNotices(view);
  return renderMerchants(view, parts[0] || "pending");
}

function districtOptions(first) {
  return [["", first], ...state.districts.map((d) => [d.id, districtName(d.id)])];
}

function applyServerErrors(form, error, ids) {
  const pairs = problemFieldErrors(error);
  const messages = [];
  for (const [path, message] of pairs) {
    const id = ids[path.split(".")[0]];
    if (id) setFieldError(form, id, message);
    messages.push(message);
  }
  showFormSummary(form, messages.length ? messages : [showErrorText(error)]);
}

function showErrorText(error) {
  const box = h("div");
  showError(box, error);
  return box.textContent;
}

// -- shopping streets ---------------------------------------------------------------------

async function renderStreets(view) {
  const listBox = h("div", {}, loadingBox());
  let form = null;
  if (can.createStreets()) {
    form = h("form", { id: "street-form", novalidate: true },
      h("div", { class: "form-summary alert alert-error", role: "alert", tabindex: "-1", hidden: true }),
      h("div", { class: "grid-3" },
        field({ id: "s-name", label: t("console.streets.name"), required: true, maxlength: "64", autocomplete: "off", placeholder: t("console.streets.name_example") }),
        field({ id: "s-name-en", label: t("console.streets.name_en"), required: true, maxlength: "64", autocomplete: "off", lang: "en", placeholder: "Shimokitazawa Minami" }),
        field({ id: "s-district", label: t("console.streets.district"), kind: "select", required: true, options: districtOptions(t("console.form.choose")) }),
      ),
      h("div", { class: "form-actions" }, h("button", { type: "submit", class: "btn", id: "create-street" }, t("console.streets.create"))),
    );
  }
  fill(view,
    pageHeader(t("console.nav.streets")),
    form ? h("section", { class: "card" }, h("h2", {}, t("console.streets.new")), form) : h("p", { class: "alert alert-info" }, t("console.streets.read_only")),
    h("section", { class: "card" }, h("h2", {}, t("console.streets.list")), listBox),
  );

  async function loadList(fresh) {
    listBox.replaceChildren(loadingBox());
    try {
      const [, shops] = await Promise.all([
        loadReference({ streetsOnly: true }),
        api.get("/api/v1/merchants?status=active&limit=500"),
      ]);
      const counts = new Map();
      for (const shop of shops) counts.set(shop.shopping_street_id, (counts.get(shop.shopping_street_id) || 0) + 1);
      const order = new Map(state.districts.map((d, i) => [d.id, i]));
      const streets = [...state.streets].sort((a, b) => (order.get(a.district_id) ?? 999) - (order.get(b.district_id) ?? 999) || a.id - b.id);
      listBox.replaceChildren(streets.length
        ? table(
          [t("console.streets.name"), t("console.streets.name_en"), t("console.streets.district"), { text: t("console.streets.shops"), num: true }],
          streets.map((s) => h("tr", { dataset: { streetId: s.id } },
            cell(s.name), cell(h("span", { lang: "en" }, s.name_en)), cell(districtName(s.district_id)), cell(number(counts.get(s.id) || 0), { num: true }))),
          { id: "streets-table", caption: t("console.streets.list") },
        )
        : emptyBox(t("console.streets.empty")));
      if (fresh) listBox.querySelector(`tr[data-street-id="${fresh}"]`)?.classList.add("flash");
    } catch (error) {
      listBox.replaceChildren(errorBox(error, () => loadList()));
    }
  }

  form?.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearFieldErrors(form);
    const body = {
      name: form.querySelector("#s-name").value.trim(),
      name_en: form.querySelector("#s-name-en").value.trim(),
      district_id: form.querySelector("#s-district").value,
    };
    const errors = [];
    if (!body.name) errors.push(["s-name", t("console.error.required", { field: t("console.streets.name") })]);
    if (!body.name_en) errors.push(["s-name-en", t("console.error.required", { field: t("console.streets.name_en") })]);
    if (!body.district_id) errors.push(["s-district", t("console.error.choose", { field: t("console.streets.district") })]);
    if (state.streets.some((s) => s.name === body.name)) errors.push(["s-name", t("console.streets.duplicate")]);
    if (errors.length) {
      errors.forEach(([id, m]) => setFieldError(form, id, m));
      showFormSummary(form, errors.map(([, m]) => m));
      return;
    }
    await busy(form.querySelector("#create-street"), async () => {
      try {
        const street = await api.post("/api/v1/shopping-streets", body);
        toast(t("console.streets.created", { name: street.name }));
        form.reset();
        await loadList(street.id);
      } catch (error) {
        applyServerErrors(form, error, { name: "s-name", name_en: "s-name-en", district_id: "s-district" });
      }
    });
  });
  await loadList();
}

/** 1550031 → 155-0031 */
function postal(code) {
  return /^\d{7}$/.test(code) ? `${code.slice(0, 3)}-${code.slice(3)}` : code;
}

// -- merchants ----------------------------------------------------------------------------

const MERCHANT_TABS = ["pending", "active", "suspended", "rejected", "import"];

async function renderMerchants(view, tab) {
  const shown = MERCHANT_TABS.filter((name) => name !== "import" || canImport());
  if (!shown.includes(tab)) tab = "pending";
  const tabs = h("nav", { class: "tabs merchant-status-tabs", "aria-label": t("console.merchants.tabs") },
    shown.map((name) => h("a", { href: `#/merchants/${name}`, "aria-current": name === tab ? "page" : null, id: `tab-${name}` },
      t(`console.merchants.tab.${name}`))));
  const box = h("div", {}, loadingBox());
  fill(view,
    pageHeader(t("console.nav.merchants")),
    can.approveMerchants() ? null : h("p", { class: "alert alert-info" }, t("console.merchants.read_only")),
    tabs,
    box,
  );
  if (tab === "import") {
    box.replaceChildren(importScreen());
    return;
  }
  let shops;
  try {
    shops = await api.get(`/api/v1/merchants?status=${tab}&limit=500`);
  } catch (error) {
    box.replaceChildren(errorBox(error, () => renderMerchants(view, tab)));
    return;
  }
  if (tab === "pending") box.replaceChildren(pendingQueue(shops, () => renderMerchants(view, tab)));
  else box.replaceChildren(shopTable(shops, tab));
}

function pendingQueue(shops, reload) {
  if (!shops.length) return emptyBox(t("console.merchants.queue_empty"));
  const list = h("ul", { class: "application-list", id: "merchant-queue" });
  const count = h("p", { class: "muted", id: "queue-count" }, t("console.merchants.queue_count", { n: shops.length }));
  for (const shop of shops) {
    const error = h("div", { hidden: true });
    const approve = can.approveMerchants()
      ? h("button", { type: "button", class: "btn", dataset: { approve: shop.id } }, t("console.merchants.approve"))
      : null;
    // Two people open a shop: after the first approval it waits for someone else's.
    const second = h("p", { class: "hint second-approval", hidden: true });
    function showFirstApproval(by, at) {
      second.textContent = t("console.merchants.awaiting_second", { id: by, at: dateTime(at) });
      if (by === state.me?.user_id && approve) {
        approve.disabled = true;
        second.textContent += ` ${t("console.merchants.first_approval_yours")}`;
      }
      second.hidden = false;
    }
    if (shop.first_approved_by != null) showFirstApproval(shop.first_approved_by, shop.first_approved_at);
    const item = h("li", { class: "card application", dataset: { merchantId: shop.id } },
      h("div", { class: "spread" },
        h("div", { class: "application-title" },
          selectBox(shop),
          h("h2", { class: "application-name" }, shop.name),
          h("p", { class: "muted kana" }, shop.name_kana),
        ),
        statusBadge(shop.status, "console.merchant_status"),
      ),
      h("dl", { class: "terms terms-compact" },
        h("dt", {}, t("console.merchants.category")), h("dd", {}, categoryName(shop.category)),
        h("dt", {}, t("console.merchants.store_type")), h("dd", {}, storeTypeName(shop.store_type)),
        h("dt", {}, t("console.merchants.street")), h("dd", {}, streetName(shop.shopping_street_id)),
        h("dt", {}, t("console.merchants.address")), h("dd", {}, `〒${postal(shop.postal_code)} ${shop.address}`),
        h("dt", {}, t("console.merchants.applied_at")), h("dd", {}, dateTime(shop.created_at)),
      ),
      applicationDetails(shop),
      second,
      error,
    );
    const reject = rejectControl(shop, () => removeFromQueue(item, list, count));
    if (approve || reject) item.append(h("div", { class: "form-actions" }, approve, reject?.open), reject?.form ?? "");
    approve?.addEventListener("click", async () => {
      const done = await busy(approve, () => approveShop(shop, item, list, count, error));
      // After busy() gives the button back: one person gives only the first approval.
      if (done?.awaiting_second_approval) showFirstApproval(state.me?.user_id, new Date().toISOString());
    });
    list.append(item);
  }
  return h("div", {}, count, batchBar(list, reload), list);
}

async function approveShop(shop, item, list, count, error) {
  error.hidden = true;
  try {
    const done = await api.post(`/api/v1/merchants/${shop.id}/approve`);
    if (done.awaiting_second_approval) {
      toast(t("console.merchants.first_approved", { name: shop.name }));
      return done;
    }
    toast(t("console.merchants.approved", { name: shop.name }));
    removeFromQueue(item, list, count);
    return done;
  } catch (err) {
    showError(error, err);
    return null;
  }
}

function removeFromQueue(item, list, count) {
  item.remove();
  const left = list.children.length;
  count.textContent = t("console.merchants.queue_count", { n: left });
  if (!left) list.replaceWith(emptyBox(t("console.merchants.queue_empty")));
}

function shopTable(shops, tab) {
  if (!shops.length) return emptyBox(t(`console.merchants.empty.${tab}`));
  const search = h("input", { id: "shop-search", type: "search", autocomplete: "off", placeholder: t("console.merchants.search_placeholder") });
  const error = h("div", { hidden: true });
  const rows = shops.map((shop) => {
    const action = can.approveMerchants() && tab !== "rejected"
      ? h("button", { type: "button", class: `btn btn-sm ${tab === "active" ? "btn-danger" : "btn-secondary"}`, dataset: { action: tab === "active" ? "suspend" : "reinstate", merchantId: shop.id } },
        tab === "active" ? t("console.merchants.suspend") : t("console.merchants.reinstate"))
      : null;
    const row = h("tr", { dataset: { merchantId: shop.id, name: `${shop.name} ${shop.name_kana}`.toLowerCase() } },
      h("th", { scope: "row" }, shop.name, h("div", { class: "muted kana" }, shop.name_kana),
        tab === "suspended" && shop.suspension_reason
          ? h("div", { class: "suspension-reason" }, t("console.merchants.suspension_reason", { reason: shop.suspension_reason, at: shop.suspended_at ? dateTime(shop.suspended_at) : "–" }))
          : null),
      cell(categoryName(shop.category)),
      cell(storeTypeName(shop.store_type)),
      cell(streetName(shop.shopping_street_id)),
      cell(statusBadge(shop.status, "console.merchant_status")),
      action ? cell(action) : null,
    );
    action?.addEventListener("click", async () => {
      const verb = action.dataset.action;
      const answer = await confirmShopChange(shop, verb, action);
      if (!answer) return;
      await busy(action, async () => {
        error.hidden = true;
        try {
          await api.post(`/api/v1/merchants/${shop.id}/${verb}`, verb === "suspend" ? { reason: answer.reason } : undefined);
          toast(t(verb === "suspend" ? "console.merchants.suspended_toast" : "console.merchants.reinstated_toast", { name: shop.name }));
          row.remove();
        } catch (err) {
          showError(error, err);
        }
      });
    });
    return row;
  });
  search.addEventListener("input", () => {
    const q = search.value.trim().toLowerCase();
    for (const row of rows) row.hidden = Boolean(q) && !row.dataset.name.includes(q);
  });
  const headers = [t("console.merchants.name"), t("console.merchants.category"), t("console.merchants.store_type"), t("console.merchants.street"), t("console.merchants.status")];
  if (can.approveMerchants() && tab !== "rejected") headers.push(t("console.merchants.action"));
  return h("div", {},
    h("div", { class: "field toolbar-field" }, h("label", { for: "shop-search" }, t("console.merchants.search")), search),
    error,
    table(headers, rows, { id: "shops-table", caption: t(`console.merchants.tab.${tab}`) }),
  );
}

/** What suspending (or reinstating) a shop does, asked before it is done; a suspension
 * needs a reason, which the shop reads on its dashboard. */
function confirmShopChange(shop, verb, opener) {
  const where = [categoryName(shop.category), streetName(shop.shopping_street_id)].join(" · ");
  if (verb === "suspend") {
    return confirmDialog({
      id: "suspend-dialog", opener, danger: true,
      title: t("console.merchants.suspend_title", { name: shop.name }),
      body: [
        h("p", { class: "muted" }, where),
        h("ul", { class: "consequences" },
          h("li", {}, t("console.merchants.suspend_effect_payments")),
          h("li", {}, t("console.merchants.suspend_effect_money")),
          h("li", {}, t("console.merchants.suspend_effect_reason")),
        ),
      ],
      reason: { label: t("console.merchants.suspend_reason"), required: true, max: 200, hint: t("console.merchants.suspend_reason_hint") },
      confirmLabel: t("console.merchants.suspend_confirm"),
    });
  }
  return confirmDialog({
    id: "reinstate-dialog", opener,
    title: t("console.merchants.reinstate_title", { name: shop.name }),
    body: [h("p", { class: "muted" }, where), h("p", {}, t("console.merchants.reinstate_effect"))],
    confirmLabel: t("console.merchants.reinstate"),
  });
}

// -- notices ------------------------------------------------------------------------------

async function renderNotices(view) {
  const listBox = h("div", {}, loadingBox());
  let form = null;
  if (can.publishNotices()) {
    const counter = h("span", { class: "hint counter", id: "n-body-count" }, "0 / 2000");
    form = h("form", { id: "notice-form", novalidate: true },
      h("div", { class: "form-summary alert alert-error", role: "alert", tabindex: "-1", hidden: true }),
      field({ id: "n-title", label: t("console.notices.title_field"), required: true, maxlength: "80", autocomplete: "off" }),
      field({ id: "n-body", label: t("console.notices.body"), kind: "textarea", required: true, maxlength: "2000", rows: "5" }),
      counter,
      field({ id: "n-district", label: t("console.notices.target"), kind: "select", options: districtOptions(t("console.notices.whole_ward")), hint: t("console.notices.target_hint") }),
      h("div", { class: "form-actions" }, h("button", { type: "submit", class: "btn", id: "publish-notice" }, t("console.notices.publish"))),
    );
    form.querySelector("#n-body").addEventListener("input", (e) => { counter.textContent = `${e.target.value.length} / 2000`; });
  }
  fill(view,
    pageHeader(t("console.nav.notices")),
    form ? h("section", { class: "card" }, h("h2", {}, t("console.notices.new")), form) : h("p", { class: "alert alert-info" }, t("console.notices.read_only")),
    h("section", { class: "card" }, h("h2", {}, t("console.notices.list")), listBox),
  );

  const noticeItem = (n) => h("li", { class: "notice", dataset: { noticeId: n.id } },
    h("div", { class: "spread" },
      h("h3", {}, n.title),
      h("span", { class: `badge ${n.district_id ? "badge-info" : ""}` }, districtName(n.district_id)),
    ),
    h("p", { class: "notice-body" }, n.body),
    h("p", { class: "muted" }, t("console.notices.published_at", { at: dateTime(n.published_at) })),
  );

  async function loadList() {
    try {
      const notices = await api.get("/api/v1/notices?limit=100");
      listBox.replaceChildren(notices.length ? h("ul", { class: "notice-list", id: "notice-list" }, notices.map(noticeItem)) : emptyBox(t("console.notices.empty")));
    } catch (error) {
      listBox.replaceChildren(errorBox(error, () => loadList()));
    }
  }

  form?.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearFieldErrors(form);
    const body = {
      title: form.querySelector("#n-title").value.trim(),
      body: form.querySelector("#n-body").value.trim(),
      district_id: form.querySelector("#n-district").value || null,
    };
    const errors = [];
    if (!body.title) errors.push(["n-title", t("console.error.required", { field: t("console.notices.title_field") })]);
    else if (body.title.length > 80) errors.push(["n-title", t("console.error.too_long_text", { max: 80 })]);
    if (!body.body) errors.push(["n-body", t("console.error.required", { field: t("console.notices.body") })]);
    else if (body.body.length > 2000) errors.push(["n-body", t("console.error.too_long_text", { max: 2000 })]);
    if (errors.length) {
      errors.forEach(([id, m]) => setFieldError(form, id, m));
      showFormSummary(form, errors.map(([, m]) => m));
      return;
    }
    const publish = form.querySelector("#publish-notice");
    if (!(await previewNotice(body, publish))) return;
    await busy(publish, async () => {
      try {
        await api.post("/api/v1/notices", body);
        toast(t("console.notices.published", { target: districtName(body.district_id) }));
        form.reset();
        form.querySelector("#n-body-count").textContent = "0 / 2000";
        await loadList();
      } catch (error) {
        applyServerErrors(form, error, { title: "n-title", body: "n-body", district_id: "n-district" });
      }
    });
  });
  await loadList();
}

/** The notice as residents will see it on their app's home screen, before it goes out. */
function previewNotice(body, opener) {
  // The title as the server stores it (NFKC, one space); the body as typed.
  const title = body.title.normalize("NFKC").split(/\s+/u).filter(Boolean).join(" ");
  const now = new Date().toISOString();
  const phone = h("div", { class: "notice-preview", id: "notice-preview", "aria-label": t("console.notices.preview_label") },
    h("div", { class: "notice-preview-card" },
      h("h3", { class: "notice-preview-heading" }, t("console.notices.preview_card_title")),
      h("details", { open: true },
        h("summary", {}, h("span", { class: "notice-preview-title" }, title),
          h("time", { class: "muted", datetime: now }, dateTime(now))),
        h("p", { class: "notice-body" }, body.body),
      ),
    ),
  );
  return confirmDialog({
    id: "notice-dialog", opener,
    title: t("console.notices.preview_title"),
    body: [
      h("p", {}, t("console.notices.preview_target", { target: districtName(body.district_id) })),
      phone,
      h("p", { class: "hint" }, t("console.notices.preview_note")),
    ],
    confirmLabel: t("console.notices.publish_confirm"),
  });
}
