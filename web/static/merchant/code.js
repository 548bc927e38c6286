// コード入力: the customer shows an 18-digit one-time code in their app; the shop types it
// (or a barcode reader at the till types it and presses Enter) with the amount.

import { h, number, showError, t, toast } from "/static/js/core.js";
import { $, amountOf, attempts, busy, clockOf, digitsOf, formatAmountField, yenOf } from "./util.js";

const CODE_LENGTH = 18;

export function setupCode(api) {
  const form = $("#cpm-form");
  const codeInput = $("#cpm-code");
  const amountInput = $("#cpm-amount");
  const result = $("#cpm-result");
  const tries = attempts();

  formatAmountField(amountInput);

  // Grouped in fours as the app shows it: 9812 3456 7890 1234 56.
  codeInput.addEventListener("input", () => {
    const digits = digitsOf(codeInput.value).slice(0, CODE_LENGTH);
    codeInput.value = digits.replace(/(\d{4})(?=\d)/g, "$1 ");
    codeInput.removeAttribute("aria-invalid");
  });
  // A reader types the code and Enter: go on to the amount rather than submit half a form.
  codeInput.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !amountOf(amountInput.value)) {
      event.preventDefault();
      amountInput.focus();
    }
  });

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const box = $("#cpm-error");
    box.hidden = true;
    const code = digitsOf(codeInput.value);
    const amount = amountOf(amountInput.value);
    if (code.length !== CODE_LENGTH) {
      codeInput.setAttribute("aria-invalid", "true");
      showError(box, t("m.cpm.bad_code"));
      codeInput.focus();
      return;
    }
    if (!amount) {
      amountInput.setAttribute("aria-invalid", "true");
      showError(box, t("m.error.amount"));
      amountInput.focus();
      return;
    }
    const body = { code, amount };
    await busy($("#cpm-submit"), t("m.cpm.busy"), async () => {
      try {
        const paid = await api.post("/api/v1/merchant/cpm-payments", body, {
          headers: { "Idempotency-Key": tries.keyFor(body) },
        });
        tries.settled(null);
        showResult(paid);
      } catch (err) {
        tries.settled(err);
        showError(box, err);
        if (err.slug === "code-unusable") {
          codeInput.setAttribute("aria-invalid", "true");
          codeInput.select();
        }
      }
    });
  });

  function showResult(paid) {
    form.hidden = true;
    result.hidden = false;
    result.dataset.paymentId = paid.id;
    $("#cpm-result-amount").textContent = yenOf(paid.amount);
    const facts = [
      [t("m.cpm.paid_points"), t("m.points", { points: number(paid.paid_with.points) })],
      [t("m.cpm.paid_money"), yenOf(paid.paid_with.money)],
      paid.rewards?.resident_points ? [t("m.cpm.reward"), t("m.points", { points: number(paid.rewards.resident_points) })] : null,
      [t("m.cpm.time"), clockOf(paid.created_at)],
      [t("m.refund.payment_id"), paid.id],
    ].filter(Boolean);
    $("#cpm-result-detail").replaceChildren(...facts.flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]));
    toast(t("m.cpm.done_toast", { amount: yenOf(paid.amount) }));
    result.focus();
  }

  function next() {
    result.hidden = true;
    form.hidden = false;
    form.reset();
    $("#cpm-error").hidden = true;
    codeInput.focus();
  }
  $("#cpm-next").addEventListener("click", next);

  function reset() {
    result.hidden = true;
    form.hidden = false;
    form.reset();
    $("#cpm-error").hidden = true;
  }

  return { reset };
}
