// Send money (never points) to another resident by phone number: fill in, see who it
// reaches (受取人名義の確認: a masked name, or "nobody has this number"), confirm, done.
import { ApiError, dateTime, h, nfkcDigits, showError, t, yen } from "/static/js/core.js";
import { amountInput, amountProblem, attempts, busyWhile, errorBox, field, parseYen, screen, setFieldError } from "./ui.js";

const PHONE = /^\+?[0-9()]{10,16}$/; // after nfkcDigits: separators gone, digits ASCII

/** A Japanese number as the server keeps it (+81…), to catch sending to oneself early. */
function e164(text) {
  const typed = nfkcDigits(text);
  const digits = typed.replace(/\D/g, "");
  if (typed.startsWith("+")) return `+${digits}`;
  return digits.startsWith("0") ? `+81${digits.slice(1)}` : digits;
}

/**
 * Who a transfer to this number would reach: {name} (masked by the server), or
 * {notFound: true} for a number no resident can receive on. Anything else is thrown.
 */
async function lookUpRecipient(app, toPhone) {
  try {
    return await app.api.post("/api/v1/transfers/recipient", { to_phone: toPhone });
  } catch (error) {
    if (error instanceof ApiError && error.slug === "recipient-not-found") return { notFound: true };
    throw error;
  }
}

function summary(rows) {
  return h("dl", { class: "summary" }, rows.map(([label, value, id]) =>
    h("div", {}, h("dt", {}, t(label)), h("dd", { id }, value))));
}

export async function render(root, app, scope) {
  const phone = h("input", { id: "transfer-phone", type: "tel", inputmode: "tel", autocomplete: "off", required: true, placeholder: "090-1234-5678" });
  const amount = amountInput("transfer-amount");
  const message = h("input", { id: "transfer-message", maxlength: 200, autocomplete: "off" });
  const limits = h("p", { class: "hint", id: "transfer-limits" });
  const problem = errorBox("transfer-error");
  const next = h("button", { id: "transfer-next", class: "btn btn-block btn-lg", type: "submit" }, t("app.transfer.next"));
  const form = h("form", { class: "card", novalidate: true, "aria-label": t("app.transfer.form") },
    field(phone, "app.transfer.to_phone", { hint: t("app.transfer.to_phone_hint") }),
    field(amount, "app.transfer.amount"),
    limits,
    field(message, "app.transfer.message", { optional: true }),
    problem, next);
  const stage = h("div", { class: "narrow" }, form);
  root.append(screen("app.transfer.title", h("p", { class: "muted narrow" }, t("app.transfer.lead")), stage));

  let perTransfer = null;
  let myPhone = null;
  const sendAttempts = attempts();

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    problem.hidden = true;
    const phoneProblem = !phone.value.trim() ? t("app.field.required")
      : !PHONE.test(nfkcDigits(phone.value)) ? t("app.transfer.error.phone")
        : e164(phone.value) === myPhone ? t("app.transfer.error.self") : "";
    const amountMessage = amountProblem(amount.value, perTransfer);
    setFieldError(phone, phoneProblem);
    setFieldError(amount, amountMessage);
    if (phoneProblem) { phone.focus(); return; }
    if (amountMessage) { amount.focus(); return; }
    const body = { to_phone: phone.value.trim(), amount: parseYen(amount.value), message: message.value.trim() || undefined };
    let recipient;
    try {
      recipient = await busyWhile(next, "app.transfer.checking", () => lookUpRecipient(app, body.to_phone));
    } catch (error) {
      if (!scope.left) showError(problem, error);
      return;
    }
    if (scope.left) return;
    if (recipient.notFound) {
      setFieldError(phone, t("app.transfer.error.not_found"));
      phone.focus();
      return;
    }
    confirmStep(body, recipient.name);
  });

  function confirmStep(body, recipientName) {
    const send = h("button", { id: "transfer-confirm", class: "btn btn-block btn-lg", type: "button" },
      t("app.transfer.send", { amount: yen(body.amount) }));
    const back = h("button", { class: "btn btn-secondary btn-block", type: "button" }, t("app.transfer.back"));
    const sendProblem = errorBox("transfer-confirm-error");
    const card = h("section", { class: "card", "aria-labelledby": "transfer-confirm-title" },
      h("h2", { id: "transfer-confirm-title", tabindex: "-1" }, t("app.transfer.confirm_title")),
      summary([
        ["app.transfer.recipient_name", recipientName, "transfer-confirm-name"],
        ["app.transfer.to_phone", body.to_phone, "transfer-confirm-phone"],
        ["app.transfer.amount", yen(body.amount), "transfer-confirm-amount"],
        ["app.transfer.message", body.message || t("app.transfer.no_message"), "transfer-confirm-message"],
      ]),
      h("p", { class: "hint" }, t("app.transfer.recipient_hint")),
      h("p", { class: "muted" }, t("app.transfer.money_only")),
      sendProblem, send, back);
    stage.replaceChildren(card);
    card.querySelector("h2").focus();
    back.addEventListener("click", () => {
      stage.replaceChildren(form);
      phone.focus();
    });
    send.addEventListener("click", async () => {
      sendProblem.hidden = true;
      let failure = null;
      try {
        const done = await busyWhile(send, "app.transfer.sending", () => app.api.post("/api/v1/transfers", body, {
          headers: { "Idempotency-Key": sendAttempts.keyFor(body) },
        }));
        if (!scope.left) doneStep(done);
      } catch (error) {
        failure = error;
        if (scope.left) return;
        const fieldMessage = error instanceof ApiError && error.problem.field === "to_phone" ? t("app.transfer.error.phone") : null;
        showError(sendProblem, fieldMessage || error);
      } finally {
        sendAttempts.settle(failure);
      }
    });
  }

  function doneStep(done) {
    const again = h("button", { class: "btn btn-secondary btn-block", type: "button" }, t("app.transfer.again"));
    const card = h("section", { class: "card transfer-done", id: "transfer-done", "aria-labelledby": "transfer-done-title" },
      h("div", { class: "receipt-check", "aria-hidden": "true" }, "✓"),
      h("h2", { id: "transfer-done-title", tabindex: "-1" }, t("app.transfer.done", { name: done.to.display_name })),
      summary([
        ["app.transfer.recipient", done.to.display_name, "transfer-done-name"],
        ["app.transfer.amount", yen(done.amount), "transfer-done-amount"],
        ["app.receipt.time", dateTime(done.created_at), "transfer-done-time"],
        ["app.receipt.id", h("code", {}, done.id), "transfer-done-id"],
      ]),
      h("a", { class: "btn btn-block", href: "#/history" }, t("app.receipt.history")), again);
    stage.replaceChildren(card);
    card.querySelector("h2").focus();
    again.addEventListener("click", () => {
      for (const input of [phone, amount, message]) input.value = "";
      stage.replaceChildren(form);
      loadLimits();
      phone.focus();
    });
  }

  async function loadLimits() {
    try {
      const wallet = await app.api.get("/api/v1/wallet");
      if (scope.left) return;
      perTransfer = Math.min(wallet.limits.p2p_per_transfer, wallet.limits.p2p_daily_remaining);
      limits.textContent = t("app.transfer.limits", {
        money: yen(wallet.money),
        per: yen(wallet.limits.p2p_per_transfer),
        today: yen(wallet.limits.p2p_daily_remaining),
      });
    } catch {
      limits.textContent = "";
    }
  }
  await Promise.all([
    loadLimits(),
    app.api.me().then((me) => { myPhone = me.username; }).catch(() => {}),
  ]);
}
