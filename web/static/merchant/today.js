// 今日の売上: today's figures and payments (Tokyo day), updated live from the event stream,
// and refunds from a payment's row.
//
// An event updates the screen at once (a new row, the totals); a moment later the day is
// fetched again so that the figures are the server's own (points/money split included).

import { download, h, number, showError, t, toast, tokyoToday } from "/static/js/core.js";
import { $, amountOf, attempts, busy, clockOf, formatAmountField, yenOf } from "./util.js";

const FLASH_MS = 10_000;

export function setupToday(api, { onDay = () => {} } = {}) {
  const list = $("#live-payments");
  const payments = new Map(); // id → payment as GET /merchant/payments gives it
  const rows = new Map(); // id → <li>
  const seenRefunds = new Set();
  let day = null;
  let totals = { count: 0, gross: 0, refunded: 0, net: 0 };
  let refreshTimer = null;
  let inflight = null;
  let changes = 0; // local changes since the last fetch started (a stale answer is dropped)

  // -- Rendering -----------------------------------------------------------------------

  function showTotals() {
    $("#fig-net").textContent = yenOf(totals.net);
    $("#fig-gross").textContent = yenOf(totals.gross);
    $("#fig-refunded").textContent = totals.refunded ? `−${yenOf(totals.refunded)}` : yenOf(0);
    $("#fig-count").textContent = t("m.fig.count_value", { count: number(totals.count) });
    $("#today-empty").hidden = payments.size > 0;
  }

  function refundBadge(p) {
    if (!p.refunded_amount) return null;
    const full = p.refunded_amount >= p.amount;
    return h("span", { class: `badge ${full ? "badge-red" : "badge-warn"}` },
      full ? t("m.refund.badge_full") : t("m.refund.badge_partial", { amount: yenOf(p.refunded_amount) }));
  }

  /** Who took it at the till; a resident paying at the sticker on their own: 店頭QR. */
  function takerTag(p) {
    if (p.taken_by === undefined) return null; // a live event, before the day's fetch
    return h("span", { class: "pay-taker" },
      p.taken_by ? t("m.pay.taken_by", { name: p.taken_by.username }) : t("m.pay.sticker"));
  }

  function fill(li, p) {
    const remaining = p.amount - p.refunded_amount;
    const split = p.points_used == null ? null
      : t("m.pay.split", { points: number(p.points_used), money: yenOf(p.money_used) });
    li.replaceChildren(
      h("time", { class: "pay-time", datetime: p.created_at }, clockOf(p.created_at)),
      h("div", { class: "pay-body" },
        h("span", { class: `pay-amount${remaining <= 0 ? " is-void" : ""}` }, yenOf(p.amount)),
        h("span", { class: "pay-tags" },
          h("span", { class: "badge badge-grey" }, t(`m.method.${p.method}`)),
          takerTag(p),
          refundBadge(p)),
        h("span", { class: "pay-detail" },
          h("span", { class: "mono" }, p.id),
          split ? h("span", {}, split) : null)),
      h("div", { class: "pay-actions" },
        remaining > 0
          ? h("button", {
            type: "button", class: "btn btn-secondary btn-sm",
            "aria-label": t("m.refund.button_for", { time: clockOf(p.created_at), amount: yenOf(p.amount) }),
            onclick: () => openRefund(p.id),
          }, t("m.refund.button"))
          : null),
    );
  }

  function rowFor(p, { flash = false } = {}) {
    let li = rows.get(p.id);
    if (!li) {
      li = h("li", { class: "payment-row", dataset: { paymentId: p.id } });
      rows.set(p.id, li);
    }
    fill(li, p);
    if (flash) {
      li.classList.add("flash");
      setTimeout(() => li.classList.remove("flash"), FLASH_MS);
    }
    return li;
  }

  function applyDay(report) {
    day = report.date;
    $("#today-error").hidden = true;
    totals = { count: report.count, gross: report.gross, refunded: report.refunded, net: report.net };
    const ids = new Set(report.payments.map((p) => p.id));
    for (const id of [...payments.keys()]) {
      if (!ids.has(id)) { payments.delete(id); rows.get(id)?.remove(); rows.delete(id); }
    }
    report.payments.forEach((p) => payments.set(p.id, p));
    const order = report.payments.map((p) => rowFor(p));
    // Re-order only when needed: moving a row would replay its highlight.
    const current = [...list.children];
    if (current.length !== order.length || order.some((li, i) => current[i] !== li)) list.replaceChildren(...order);
    $("#today-date").textContent = t("m.today.date", { date: formatDay(report.date) });
    showTotals();
  }

  function formatDay(iso) {
    const [y, m, d] = iso.split("-").map(Number);
    return new Date(Date.UTC(y, m - 1, d)).toLocaleDateString(document.documentElement.lang === "en" ? "en-GB" : "ja-JP",
      { timeZone: "UTC", month: "long", day: "numeric", weekday: "short" });
  }

  // -- Loading -------------------------------------------------------------------------

  async function fetchDay() {
    const started = changes;
    const report = await api.get(`/api/v1/merchant/payments?date=${tokyoToday()}`);
    if (changes !== started) { refreshSoon(); return report; } // an event came meanwhile
    applyDay(report);
    onDay(report);
    return report;
  }

  async function load() {
    const error = $("#today-error");
    error.hidden = true;
    $("#today-loading").hidden = payments.size > 0;
    list.setAttribute("aria-busy", "true");
    try {
      await fetchDay();
    } catch (err) {
      showError(error, err);
    } finally {
      $("#today-loading").hidden = true;
      list.removeAttribute("aria-busy");
    }
  }

  function refreshSoon(delay = 700) {
    clearTimeout(refreshTimer);
    refreshTimer = setTimeout(async () => {
      if (inflight) { refreshSoon(); return; }
      inflight = fetchDay().catch(() => {}).finally(() => { inflight = null; });
    }, delay);
  }

  // The shop stays open past midnight: the list moves on to the new day by itself.
  setInterval(() => { if (day && day !== tokyoToday()) load(); }, 30_000);

  // -- Live events -----------------------------------------------------------------------

  /** A payment event; true when it is news (not a payment already shown). */
  function onPayment(event) {
    if (payments.has(event.id)) return false;
    changes += 1;
    if (day && day !== tokyoToday()) { load(); return true; }
    const p = {
      id: event.id, amount: event.amount, method: event.method, created_at: event.at,
      refunded_amount: 0, refund_status: "none", points_used: null, money_used: null,
    };
    payments.set(p.id, p);
    list.prepend(rowFor(p, { flash: true }));
    totals = { ...totals, count: totals.count + 1, gross: totals.gross + p.amount, net: totals.net + p.amount };
    showTotals();
    refreshSoon();
    return true;
  }

  function onRefund(event) {
    if (seenRefunds.has(event.id)) return;
    seenRefunds.add(event.id);
    changes += 1;
    const p = payments.get(event.payment);
    if (p) {
      p.refunded_amount += event.amount;
      p.refund_status = p.refunded_amount >= p.amount ? "full" : "partial";
      rowFor(p);
      totals = { ...totals, refunded: totals.refunded + event.amount, net: totals.net - event.amount };
      showTotals();
    }
    refreshSoon();
  }

  // -- Refund dialog ---------------------------------------------------------------------

  const dialog = $("#refund-dialog");
  const form = $("#refund-form");
  const amountInput = $("#refund-amount");
  const refundAttempts = attempts();
  let refunding = null;
  formatAmountField(amountInput);

  function kind() {
    return form.querySelector('input[name="refund-kind"]:checked').value;
  }

  function remainingOf(p) { return p.amount - p.refunded_amount; }

  function chosenAmount() {
    return kind() === "full" ? remainingOf(refunding) : amountOf(amountInput.value);
  }

  function reflectChoice() {
    const partial = kind() === "partial";
    $("#refund-amount-field").hidden = !partial;
    const amount = chosenAmount();
    $("#refund-confirm").textContent = amount
      ? t("m.refund.confirm", { amount: yenOf(amount) }) : t("m.refund.confirm_plain");
  }

  function openRefund(id) {
    refunding = payments.get(id);
    if (!refunding) return;
    const p = refunding;
    form.reset();
    $("#refund-error").hidden = true;
    amountInput.value = "";
    amountInput.removeAttribute("aria-invalid");
    $("#refund-amount-hint").textContent = t("m.refund.amount_hint", { amount: yenOf(remainingOf(p)) });
    const facts = [
      [t("m.refund.paid_at"), clockOf(p.created_at)],
      [t("m.refund.paid"), yenOf(p.amount)],
      p.refunded_amount ? [t("m.refund.already"), yenOf(p.refunded_amount)] : null,
      [t("m.refund.left"), yenOf(remainingOf(p))],
      [t("m.refund.payment_id"), p.id],
    ].filter(Boolean);
    $("#refund-summary").replaceChildren(...facts.flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]));
    reflectChoice();
    dialog.showModal();
  }

  form.addEventListener("change", () => {
    reflectChoice();
    if (kind() === "partial" && document.activeElement?.name === "refund-kind") amountInput.focus();
  });
  amountInput.addEventListener("input", () => {
    reflectChoice();
    $("#refund-error").hidden = true;
  });
  $("#refund-cancel").addEventListener("click", () => dialog.close());

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const p = refunding;
    const box = $("#refund-error");
    box.hidden = true;
    const amount = chosenAmount();
    if (!amount || amount < 1 || amount > remainingOf(p)) {
      amountInput.setAttribute("aria-invalid", "true");
      showError(box, t("m.refund.bad_amount", { amount: yenOf(remainingOf(p)) }));
      amountInput.focus();
      return;
    }
    const body = { amount };
    const headers = { "Idempotency-Key": refundAttempts.keyFor({ id: p.id, ...body }) };
    await busy($("#refund-confirm"), t("m.refund.busy"), async () => {
      try {
        const done = await api.post(`/api/v1/merchant/payments/${p.id}/refunds`, body, { headers });
        refundAttempts.settled(null);
        onRefund({ id: done.id, payment: p.id, amount: done.amount });
        dialog.close();
        toast(t("m.refund.done", { amount: yenOf(done.amount) }));
        rows.get(p.id)?.querySelector("button")?.focus();
      } catch (err) {
        refundAttempts.settled(err);
        showError(box, err);
      }
    });
  });

  // -- CSV -------------------------------------------------------------------------------

  $("#today-csv").addEventListener("click", async (event) => {
    const date = day || tokyoToday();
    await busy(event.currentTarget, t("m.downloading"), async () => {
      try {
        await download(api, `/api/v1/merchant/payments.csv?date=${date}`, `machipay-${date}.csv`);
      } catch (err) {
        toast(t("m.download_failed"), { error: true });
        showError($("#today-error"), err);
      }
    });
  });

  function reset() {
    payments.clear();
    rows.clear();
    seenRefunds.clear();
    list.replaceChildren();
    day = null;
    totals = { count: 0, gross: 0, refunded: 0, net: 0 };
    if (dialog.open) dialog.close();
  }

  return { load, knownIds: () => new Set(payments.keys()), onPayment, onRefund, refreshSoon, reset, shown: () => { if (day && day !== tokyoToday()) load(); } };
}
