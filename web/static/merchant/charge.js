// 請求QR: the shop types an amount, the customer scans a single-use QR for exactly that.
//
// A payment event names the charge it paid ("charge"); the day's list, fetched again after
// a reconnect, does not, so there a charge counts as paid by the first QR ("dynamic")
// payment of its amount made after it was created.

import { showError, t, toast } from "/static/js/core.js";
import { renderQr } from "/static/js/qr.js";
import { $, amountOf, busy, formatAmountField, wireKeypad, yenOf } from "./util.js";

export function setupCharge(api, { knownPayments }) {
  const form = $("#charge-form");
  const start = $("#charge-start");
  const view = $("#charge-view");
  const input = $("#charge-amount");
  let charge = null; // {id, qr_payload, amount, expires_at, known: ids paid before it}
  let timer = null;

  formatAmountField(input);
  wireKeypad(form.querySelector(".keypad"));

  function setState(state) {
    view.dataset.state = state;
    $("#charge-paid").hidden = state !== "paid";
    $("#charge-qr").hidden = state === "paid";
    $("#charge-cancel").hidden = state !== "waiting";
    $("#charge-new").hidden = state === "waiting";
    $("#charge-status").textContent = t(`m.charge.state.${state}`);
    if (state !== "waiting") {
      clearInterval(timer);
      $("#charge-countdown").textContent = "";
    }
  }

  function tick() {
    if (!charge || view.dataset.state !== "waiting") return;
    const left = Math.max(0, Math.round((new Date(charge.expires_at) - Date.now()) / 1000));
    const text = `${Math.floor(left / 60)}:${String(left % 60).padStart(2, "0")}`;
    $("#charge-countdown").textContent = t("m.charge.left", { time: text });
    if (left <= 0) setState("expired");
  }

  function backToForm() {
    clearInterval(timer);
    charge = null;
    view.hidden = true;
    start.hidden = false;
    input.value = "";
    input.focus();
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const box = $("#charge-error");
    box.hidden = true;
    const amount = amountOf(input.value);
    if (!amount) {
      input.setAttribute("aria-invalid", "true");
      showError(box, t("m.error.amount"));
      input.focus();
      return;
    }
    await busy($("#charge-create"), t("m.charge.busy"), async () => {
      try {
        // What was paid before this charge can never be its payment.
        const known = knownPayments();
        const made = await api.post("/api/v1/merchant/charges", { amount });
        charge = { ...made, known };
        show();
      } catch (err) {
        showError(box, err);
      }
    });
  });

  function show() {
    start.hidden = true;
    view.hidden = false;
    view.dataset.chargeId = charge.id;
    $("#charge-amount-shown").textContent = yenOf(charge.amount);
    renderQr($("#charge-qr"), charge.qr_payload, { label: t("m.charge.qr_label", { amount: yenOf(charge.amount) }), cellSize: 8 });
    $("#charge-paid-detail").textContent = "";
    setState("waiting");
    clearInterval(timer);
    tick();
    timer = setInterval(tick, 1000);
    view.focus();
  }

  /** Called for every payment event of the shop. */
  function onPayment(event) {
    if (!charge || view.dataset.state !== "waiting") return;
    if (event.charge !== undefined && event.charge !== null) {
      if (event.charge !== charge.id) return;
    } else if (event.method !== "dynamic" || event.amount !== charge.amount || charge.known.has(event.id)) {
      return;
    }
    $("#charge-paid-detail").textContent = event.id;
    view.dataset.paymentId = event.id;
    setState("paid");
    toast(t("m.charge.paid_toast", { amount: yenOf(charge.amount) }));
    $("#charge-new").focus();
  }

  /** The day as fetched again (after a reconnect, say): a payment the stream missed. */
  function onDay(report) {
    report.payments.forEach((p) => onPayment({ id: p.id, method: p.method, amount: p.amount }));
  }

  $("#charge-new").addEventListener("click", backToForm);
  $("#charge-cancel").addEventListener("click", backToForm);

  function reset() {
    clearInterval(timer);
    charge = null;
    view.hidden = true;
    start.hidden = false;
    input.value = "";
    $("#charge-error").hidden = true;
  }

  return { onPayment, onDay, reset };
}
