// The help desk (窓口): look a resident up with a stated reason, read their summary, freeze or
// unfreeze, move their district, ask to close the wallet (a second person approves it on the
// closures screen) and take cash with a printable receipt. Every look-up is audited and the
// resident sees it in the app, so the reason field is never optional.

import { h, t, yen, dateTime, toast, showError, idempotencyKey, nfkcDigits } from "/static/js/core.js";
import {
  api, state, pageHeader, loadingBox, emptyBox, errorBox, table, cell, field, setFieldError,
  clearFieldErrors, definitionList, kpi, busy, fill, districtName, statusBadge,
} from "/static/console/ui.js";

export async function render(view, screen, parts) {
  if (screen === "closures") return renderClosures(view);
  if (screen === "cashups") return renderCashUps(view);
  return renderDesk(view);
}

const REASONS = ["desk.reason.visit", "desk.reason.phone", "desk.reason.lost", "desk.reason.move", "desk.reason.close", "desk.reason.cash"];

function reasonField(id, hintKey = "desk.reason_hint") {
  return field({
    id, label: t("desk.reason"), required: true, minlength: 4, maxlength: 200, list: `${id}-choices`,
    hint: t(hintKey), autocomplete: "off",
  });
}

function reasonChoices(id) {
  return h("datalist", { id: `${id}-choices` }, REASONS.map((key) => h("option", { value: t(key) })));
}

function readReason(form, id) {
  const value = form.querySelector(`#${id}`).value.normalize("NFKC").trim();
  if (value.length < 4) {
    setFieldError(form, id, t("desk.reason_missing"));
    form.querySelector(`#${id}`).focus();
    return null;
  }
  return value;
}

function renderDesk(view) {
  const form = h("form", { id: "desk-search", novalidate: true, class: "card" },
    h("div", { class: "toolbar" },
      field({ id: "search-by", label: t("desk.search_by"), kind: "select", options: [["phone", t("desk.by_phone")], ["wallet_id", t("desk.by_wallet")]] }),
      field({ id: "search-value", label: t("desk.search_value"), required: true, maxlength: 32, autocomplete: "off", inputmode: "tel" }),
    ),
    reasonField("search-reason"),
    reasonChoices("search-reason"),
    h("div", { class: "form-actions" }, h("button", { type: "submit", class: "btn", id: "search" }, t("desk.search"))),
  );
  const result = h("div", { id: "desk-result", "aria-live": "polite" });
  const cash = cashCard();
  fill(view,
    pageHeader(t("desk.title")),
    h("p", { class: "hint" }, t("desk.lead")),
    form,
    result,
    cash,
  );
  form.querySelector("#search-by").addEventListener("change", (event) => {
    form.querySelector("#search-value").inputMode = event.target.value === "phone" ? "tel" : "text";
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearFieldErrors(form);
    const by = form.querySelector("#search-by").value;
    let value = form.querySelector("#search-value").value.trim();
    if (!value) { setFieldError(form, "search-value", t("desk.value_missing")); form.querySelector("#search-value").focus(); return; }
    if (by === "phone") value = nfkcDigits(value);
    const reason = readReason(form, "search-reason");
    if (!reason) return;
    const query = new URLSearchParams({ [by]: value, reason });
    await busy(form.querySelector("#search"), async () => {
      try {
        const found = await api.get(`/api/v1/desk/residents?${query}`);
        showSummary(result, found, cash);
      } catch (error) {
        if (error.slug === "desk-nobody-found") fill(result, h("div", { class: "alert", role: "status", id: "desk-miss" }, t("desk.nobody")));
        else fill(result, errorBox(error));
      }
    });
  });
}

const STATUS_CLASS = { active: "", frozen: "badge-red", closed: "badge-grey" };

function showSummary(box, r, cash) {
  const money = kpi(t("desk.money"), yen(r.money), { id: "summary-money" });
  const points = kpi(t("desk.points"), `${r.points.toLocaleString()} pt`, { id: "summary-points" });
  const history = r.history.length
    ? table([t("desk.h.when"), t("desk.h.kind"), { text: t("desk.h.money"), num: true }, { text: t("desk.h.points"), num: true }],
      r.history.map((line) => h("tr", {},
        cell(dateTime(line.created_at)), cell(t(`desk.kind.${line.kind}`) || line.kind),
        cell(line.money_change ? yen(line.money_change) : "–", { num: true }),
        cell(line.points_change ? String(line.points_change) : "–", { num: true }))),
      { caption: t("desk.history") })
    : emptyBox(t("desk.no_history"));
  const lots = r.points_lots.length
    ? h("ul", { class: "plain" }, r.points_lots.map((lot) => h("li", {}, t("desk.lot", { amount: lot.amount.toLocaleString(), until: dateTime(lot.expires_at) }))))
    : null;
  const closures = r.closures.length
    ? h("ul", { class: "plain", id: "summary-closures" }, r.closures.map((c) => h("li", {},
      t("desk.closure_line", { id: c.id, status: t(`desk.closure_status.${c.status}`), refund: c.refund === null ? "–" : yen(c.refund) }),
      c.payout_status ? [" ", statusBadge(c.payout_status, "console.payout_status")] : null)))
    : null;
  const card = h("section", { class: "card", id: "resident-summary", dataset: { resident: r.id, status: r.status } },
    h("div", { class: "title-row" },
      h("h2", {}, r.name),
      h("span", { class: `badge ${STATUS_CLASS[r.status]}`, id: "summary-status" }, t(`desk.status.${r.status}`)),
    ),
    definitionList([
      [t("desk.wallet_id"), h("code", { id: "summary-wallet" }, r.wallet_id)],
      [t("desk.phone"), r.phone ?? "–"],
      [t("desk.verified"), h("span", { id: "summary-verified", class: r.phone_verified ? "" : "badge badge-red", dataset: { verified: String(r.phone_verified) } },
        r.phone_verified ? t("desk.verified_yes", { at: dateTime(r.phone_verified_at) }) : t("desk.verified_no"))],
      [t("desk.district"), h("span", { id: "summary-district" }, districtName(r.district))],
      r.refund_in_transit ? [t("desk.refund_in_transit"), yen(r.refund_in_transit)] : null,
    ]),
    h("div", { class: "kpis" }, money, points),
    lots,
    h("h3", {}, t("desk.history")),
    history,
    closures ? [h("h3", {}, t("desk.closures")), closures] : null,
  );
  const actions = r.status === "closed" && !r.money ? [] : actionCards(r, box, cash);
  fill(box, card, ...actions);
  const walletInput = cash.querySelector("#cash-wallet");
  if (walletInput && r.status !== "closed") walletInput.value = r.wallet_id;
}

function actionCards(r, box, cash) {
  const refresh = (found) => showSummary(box, found, cash);
  const cards = [];
  if (r.status !== "closed") {
    const frozen = r.status === "frozen";
    const freezeForm = h("form", { class: "card", id: "freeze-form", novalidate: true },
      h("h3", {}, t(frozen ? "desk.unfreeze_title" : "desk.freeze_title")),
      h("p", { class: "hint" }, t(frozen ? "desk.unfreeze_hint" : "desk.freeze_hint")),
      reasonField("freeze-reason", "desk.action_reason_hint"),
      h("div", { class: "form-actions" }, h("button", { type: "submit", class: frozen ? "btn" : "btn btn-danger", id: "freeze" }, t(frozen ? "desk.unfreeze" : "desk.freeze"))),
    );
    freezeForm.addEventListener("submit", async (event) => {
      event.preventDefault();
      clearFieldErrors(freezeForm);
      const reason = readReason(freezeForm, "freeze-reason");
      if (!reason) return;
      await busy(freezeForm.querySelector("#freeze"), async () => {
        try {
          refresh(await api.post(`/api/v1/desk/residents/${r.id}/${frozen ? "unfreeze" : "freeze"}`, { reason }));
          toast(t(frozen ? "desk.unfrozen" : "desk.frozen"));
        } catch (error) { toast(String(error.message), { error: true }); }
      });
    });

    const districtForm = h("form", { class: "card", id: "district-form", novalidate: true },
      h("h3", {}, t("desk.district_title")),
      field({ id: "new-district", label: t("desk.new_district"), kind: "select", required: true,
        options: state.districts.filter((d) => d.id !== r.district).map((d) => [d.id, districtName(d.id)]) }),
      reasonField("district-reason", "desk.action_reason_hint"),
      h("div", { class: "form-actions" }, h("button", { type: "submit", class: "btn btn-secondary", id: "move-district" }, t("desk.move"))),
    );
    districtForm.addEventListener("submit", async (event) => {
      event.preventDefault();
      clearFieldErrors(districtForm);
      const reason = readReason(districtForm, "district-reason");
      if (!reason) return;
      await busy(districtForm.querySelector("#move-district"), async () => {
        try {
          refresh(await api.post(`/api/v1/desk/residents/${r.id}/district`, { district: districtForm.querySelector("#new-district").value, reason }));
          toast(t("desk.moved"));
        } catch (error) { toast(String(error.message), { error: true }); }
      });
    });
    cards.push(h("div", { class: "grid-2" }, freezeForm, districtForm));
  }
  if (!r.closures.some((c) => c.status === "pending")) cards.push(closureForm(r, refresh));
  return cards;
}

function closureForm(r, refresh) {
  const form = h("form", { class: "card", id: "closure-form", novalidate: true },
    h("h3", {}, t("desk.closure_title")),
    h("p", { class: "hint" }, t("desk.closure_hint", { money: yen(r.money), points: r.points.toLocaleString() })),
    h("div", { class: "form-summary", tabindex: "-1", hidden: true }),
    h("div", { class: "grid-2" },
      field({ id: "bank-code", label: t("desk.bank_code"), required: true, inputmode: "numeric", maxlength: 4 }),
      field({ id: "branch-code", label: t("desk.branch_code"), required: true, inputmode: "numeric", maxlength: 3 }),
      field({ id: "account-type", label: t("desk.account_type"), kind: "select", options: [["ordinary", t("desk.ordinary")], ["current", t("desk.current")], ["savings", t("desk.savings")]] }),
      field({ id: "account-number", label: t("desk.account_number"), required: true, inputmode: "numeric", maxlength: 7 }),
    ),
    field({ id: "account-name", label: t("desk.account_name"), required: true, maxlength: 48, hint: t("desk.account_name_hint") }),
    reasonField("closure-reason", "desk.action_reason_hint"),
    h("div", { class: "form-actions" }, h("button", { type: "submit", class: "btn btn-danger", id: "request-closure" }, t("desk.request_closure"))),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearFieldErrors(form);
    const reason = readReason(form, "closure-reason");
    if (!reason) return;
    const value = (id) => form.querySelector(`#${id}`).value;
    const bank = {
      bank_code: nfkcDigits(value("bank-code")), branch_code: nfkcDigits(value("branch-code")),
      account_type: value("account-type"), account_number: nfkcDigits(value("account-number")),
      account_name_kana: value("account-name").trim(),
    };
    await busy(form.querySelector("#request-closure"), async () => {
      try {
        const closure = await api.post(`/api/v1/desk/residents/${r.id}/closure`, { reason, bank });
        toast(t("desk.closure_requested", { id: closure.id }));
        refresh({ ...r, closures: [closure, ...r.closures] });
      } catch (error) {
        const summary = form.querySelector(".form-summary");
        summary.hidden = false;
        showError(summary, error);
        summary.focus();
      }
    });
  });
  return form;
}

function cashCard() {
  const form = h("form", { class: "card", id: "cash-form", novalidate: true },
    h("h2", {}, t("desk.cash_title")),
    h("p", { class: "hint" }, t("desk.cash_hint")),
    h("div", { class: "grid-2" },
      field({ id: "cash-wallet", label: t("desk.wallet_id"), required: true, maxlength: 32, autocomplete: "off" }),
      field({ id: "cash-amount", label: t("desk.amount"), required: true, inputmode: "numeric", suffix: "円" }),
    ),
    reasonField("cash-reason", "desk.action_reason_hint"),
    h("div", { class: "form-actions" }, h("button", { type: "submit", class: "btn", id: "cash-top-up" }, t("desk.cash_submit"))),
  );
  const receipt = h("div", { id: "receipt-area", class: "receipt-area" });
  // One key per top-up the person at the counter means: a retry after a network failure
  // sends the same key, so the cash is credited once; a new top-up starts a new key.
  let key = idempotencyKey();
  form.addEventListener("input", () => { key = idempotencyKey(); });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearFieldErrors(form);
    const wallet = form.querySelector("#cash-wallet").value.trim();
    const amount = Number(nfkcDigits(form.querySelector("#cash-amount").value));
    if (!wallet) { setFieldError(form, "cash-wallet", t("desk.value_missing")); return; }
    if (!Number.isInteger(amount) || amount <= 0) { setFieldError(form, "cash-amount", t("desk.amount_missing")); return; }
    const reason = readReason(form, "cash-reason");
    if (!reason) return;
    await busy(form.querySelector("#cash-top-up"), async () => {
      try {
        const done = await api.post("/api/v1/desk/top-ups", { wallet_id: wallet, amount, reason }, { headers: { "Idempotency-Key": key } });
        await showReceipt(receipt, done);
        key = idempotencyKey();
      } catch (error) {
        if (error.problem?.field === "amount" || error.slug === "desk-amount-out-of-bounds") setFieldError(form, "cash-amount", error.message);
        else fill(receipt, errorBox(error));
      }
    });
  });
  return h("section", { id: "cash" }, form, receipt);
}

async function showReceipt(area, done) {
  const page = await api.get(done.receipt_url);
  const doc = new DOMParser().parseFromString(page, "text/html");
  const printed = doc.querySelector("[data-receipt]");
  const print = h("button", { type: "button", class: "btn", id: "print-receipt" }, t("desk.print"));
  print.addEventListener("click", () => window.print());
  fill(area,
    h("div", { class: "alert alert-success", role: "status" }, t("desk.cash_done", { amount: yen(done.amount), id: done.id })),
    h("div", { class: "receipt-print", id: "receipt" }, document.adoptNode(printed)),
    h("div", { class: "form-actions" }, print),
  );
}

async function renderClosures(view) {
  const list = h("div", {}, loadingBox());
  fill(view, pageHeader(t("desk.closures_title")), h("p", { class: "hint" }, t("desk.closures_lead")), list);
  async function load() {
    let pending;
    try {
      pending = await api.get("/api/v1/desk/closures");
    } catch (error) {
      fill(list, errorBox(error, load));
      return;
    }
    if (!pending.length) { fill(list, emptyBox(t("desk.no_closures"))); return; }
    fill(list, table(
      [t("desk.c.id"), t("desk.c.resident"), t("desk.c.reason"), t("desk.c.requested"), ""],
      pending.map((c) => {
        const own = c.requested_by === state.me?.user_id;
        const approve = h("button", { type: "button", class: "btn btn-sm", dataset: { approve: c.id }, disabled: own }, t("desk.approve"));
        approve.addEventListener("click", () => busy(approve, async () => {
          try {
            const done = await api.post(`/api/v1/desk/closures/${c.id}/approve`);
            toast(t("desk.approved", { refund: yen(done.refund ?? 0) }));
            await load();
          } catch (error) { toast(String(error.message), { error: true }); }
        }));
        return h("tr", { dataset: { closure: c.id } },
          cell(`#${c.id}`), cell(String(c.resident_id)), cell(c.reason), cell(dateTime(c.requested_at)),
          cell(own ? h("span", { class: "muted" }, t("desk.own_request")) : approve));
      }),
      { caption: t("desk.closures_title") },
    ));
  }
  await load();
}

// The day-end cash-up (精算・現金照合): a desk member declares the cash counted at their
// counter without seeing what the system expects (a blind count); another desk member or an
// officer confirms it and sees the difference (過不足), recorded in the append-only audit.
function todayInTokyo() {
  return new Date().toLocaleDateString("sv-SE", { timeZone: "Asia/Tokyo" });
}

function differenceBadge(difference) {
  if (difference === 0) return h("span", { class: "badge", dataset: { difference: "0" } }, t("desk.cash_up.even"));
  const over = difference > 0;
  return h("span", { class: `badge ${over ? "badge-warn" : "badge-red"}`, dataset: { difference: String(difference) } },
    t(over ? "desk.cash_up.over" : "desk.cash_up.short", { amount: yen(Math.abs(difference)) }));
}

function declareForm(onDone) {
  const form = h("form", { class: "card", id: "cash-up-form", novalidate: true },
    h("h2", {}, t("desk.cash_up.declare_title")),
    h("p", { class: "hint" }, t("desk.cash_up.declare_hint")),
    h("div", { class: "grid-2" },
      field({ id: "cash-up-day", label: t("desk.cash_up.day"), type: "date", required: true, value: todayInTokyo(), max: todayInTokyo() }),
      field({ id: "cash-up-counted", label: t("desk.cash_up.counted"), required: true, inputmode: "numeric", suffix: "円", autocomplete: "off" }),
    ),
    field({ id: "cash-up-note", label: t("desk.cash_up.note"), maxlength: 200, hint: t("desk.cash_up.note_hint") }),
    h("div", { class: "form-actions" }, h("button", { type: "submit", class: "btn", id: "declare-cash-up" }, t("desk.cash_up.declare"))),
    h("div", { id: "cash-up-declared", "aria-live": "polite" }),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearFieldErrors(form);
    const day = form.querySelector("#cash-up-day").value;
    const raw = nfkcDigits(form.querySelector("#cash-up-counted").value).replaceAll(",", "");
    const counted = Number(raw);
    if (!day) { setFieldError(form, "cash-up-day", t("desk.cash_up.day_missing")); return; }
    if (!raw || !Number.isInteger(counted) || counted < 0) {
      setFieldError(form, "cash-up-counted", t("desk.cash_up.counted_missing"));
      form.querySelector("#cash-up-counted").focus();
      return;
    }
    const note = form.querySelector("#cash-up-note").value.normalize("NFKC").trim() || null;
    await busy(form.querySelector("#declare-cash-up"), async () => {
      try {
        const done = await api.post("/api/v1/desk/cash-ups", { day, counted, note });
        fill(form.querySelector("#cash-up-declared"),
          h("div", { class: "alert alert-success", role: "status" }, t("desk.cash_up.declared", { id: done.id, office: done.office, amount: yen(done.counted) })));
        form.querySelector("#cash-up-counted").value = "";
        await onDone();
      } catch (error) {
        if (error.slug === "desk-cash-up-day-invalid") setFieldError(form, "cash-up-day", error.message);
        else fill(form.querySelector("#cash-up-declared"), errorBox(error));
      }
    });
  });
  return form;
}

// Which counter and day, in one cell: three columns fit a phone.
function cashUpWhere(c) {
  return h("div", { class: "cash-up-where" },
    h("strong", {}, c.office),
    h("span", { class: "muted" }, `${c.day} · No.${c.id}`));
}

async function renderCashUps(view) {
  const pending = h("section", { id: "cash-ups-pending" }, loadingBox());
  const done = h("section", { id: "cash-ups-done" });
  const isDesk = state.me?.role === "desk";
  async function load() {
    let waiting, confirmed;
    try {
      [waiting, confirmed] = await Promise.all([
        api.get("/api/v1/desk/cash-ups?status=declared"),
        api.get("/api/v1/desk/cash-ups?status=confirmed&limit=20"),
      ]);
    } catch (error) {
      fill(pending, errorBox(error, load));
      return;
    }
    fill(pending, h("h2", {}, t("desk.cash_up.pending_title")), waiting.length ? table(
      [t("desk.cash_up.where"), { text: t("desk.cash_up.counted"), num: true }, ""],
      waiting.map((c) => {
        const own = c.declared_by === state.me?.user_id;
        const button = h("button", { type: "button", class: "btn btn-sm", dataset: { confirm: c.id }, disabled: own }, t("desk.cash_up.confirm"));
        button.addEventListener("click", () => busy(button, async () => {
          try {
            const result = await api.post(`/api/v1/desk/cash-ups/${c.id}/confirm`);
            const what = t(result.difference > 0 ? "desk.cash_up.over" : "desk.cash_up.short", { amount: yen(Math.abs(result.difference)) });
            toast(result.difference ? t("desk.cash_up.confirmed_difference", { what }) : t("desk.cash_up.confirmed_even"), { error: Boolean(result.difference) });
            await load();
          } catch (error) { toast(String(error.message), { error: true }); }
        }));
        return h("tr", { dataset: { cashUp: c.id } },
          cell(cashUpWhere(c)),
          cell([yen(c.counted), h("span", { class: "muted cash-up-sub" }, dateTime(c.declared_at))], { num: true }),
          cell(own ? h("span", { class: "muted" }, t("desk.cash_up.own")) : button));
      }),
      { caption: t("desk.cash_up.pending_title") },
    ) : emptyBox(t("desk.cash_up.none_pending")));
    fill(done, h("h2", {}, t("desk.cash_up.done_title")), confirmed.length ? table(
      [t("desk.cash_up.where"), { text: t("desk.cash_up.counted_expected"), num: true }],
      confirmed.map((c) => h("tr", { dataset: { cashUp: c.id } },
        cell(cashUpWhere(c)),
        cell([
          yen(c.counted),
          h("span", { class: "muted cash-up-sub" }, t("desk.cash_up.against", { amount: yen(c.expected), n: c.top_ups })),
          h("span", { class: "cash-up-sub" }, differenceBadge(c.difference)),
        ], { num: true }))),
      { caption: t("desk.cash_up.done_title") },
    ) : emptyBox(t("desk.cash_up.none_done")));
  }
  fill(view,
    pageHeader(t("desk.cash_up.title")),
    h("p", { class: "hint" }, t("desk.cash_up.lead")),
    isDesk ? declareForm(load) : null,
    h("div", { class: "card" }, pending),
    h("div", { class: "card" }, done),
  );
  await load();
}
