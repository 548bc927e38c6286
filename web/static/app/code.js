// The one-time code (CPM): the shop scans or types it at the till. It is valid for a
// minute and once; while the screen is open the history is polled, so the receipt appears
// here as soon as the shop has taken the payment. ポイントを使わない issues a code whose
// payment spends money only (the shop cannot change that).
import { describeError, h, number, t, yen } from "/static/js/core.js";
import { renderQr } from "/static/js/qr.js";
import { renderBarcode } from "./barcode.js";
import { busyWhile, screen } from "./ui.js";

const POLL_MS = 2000;
const AUTO_REFRESHES = 5; // then the person taps "refresh" (codes are rate-limited)

function spaced(code) {
  return code.replace(/(\d{6})(?=\d)/g, "$1 ");
}

/** A receipt from the history lines of a till payment (and its points line, if credited). */
export function receiptFromHistory(line, lines) {
  const earned = lines.find((other) => other.id === `cr_${line.id}` && other.points_change > 0);
  return {
    id: line.id,
    amount: line.amount,
    paid_with: { points: Math.abs(line.points_change), money: Math.abs(line.money_change) },
    rewards: { resident_points: earned ? earned.points_change : 0, granted: earned ? true : null },
    merchant: { name: line.counterparty, shopping_street: null },
    created_at: line.created_at,
  };
}

export async function render(root, app, scope) {
  const qr = h("div", { class: "qr-box", id: "otp-qr" });
  const barcode = h("div", { class: "barcode-box", id: "otp-barcode" });
  const digits = h("p", { id: "otp-digits", class: "code-digits", "aria-label": t("app.code.digits_label") });
  const bar = h("div", { class: "countdown-bar" }, h("span", {}));
  const countdown = h("p", { id: "otp-countdown", class: "countdown", "aria-live": "off" });
  const expired = h("p", { id: "otp-expired", class: "alert alert-info", role: "status", hidden: true }, t("app.code.expired"));
  const problem = h("p", { id: "otp-error", class: "alert alert-error", role: "alert", hidden: true });
  const refresh = h("button", { id: "otp-refresh", class: "btn btn-secondary btn-block", type: "button" }, t("app.code.refresh"));
  const balance = h("p", { class: "muted code-balance", id: "code-balance" });
  const waiting = h("p", { class: "code-waiting", role: "status" }, t("app.code.waiting"));
  const keep = h("input", { id: "otp-keep-points", type: "checkbox", role: "switch" });
  const keepBox = h("div", { class: "keep-points", hidden: true },
    h("label", { for: keep.id, class: "switch" }, keep, h("span", {}, t("app.pay.keep_points"))));
  const card = h("div", { class: "card code-card" }, h("div", { class: "code-symbols" }, qr, barcode), digits, bar, countdown, expired, problem, keepBox, refresh, waiting, balance);
  root.append(h("div", { class: "narrow" }, screen("app.code.title", h("p", { class: "muted" }, t("app.code.lead")), card,
    h("p", { class: "muted small" }, t("app.code.note")))));

  let code = null;
  let timer = null;
  let pollTimer = null;
  let autoLeft = AUTO_REFRESHES;
  const seen = new Set();
  scope.onLeave(() => { clearInterval(timer); clearTimeout(pollTimer); });

  function tick() {
    const left = Math.max(0, Math.ceil((code.expiresAt - Date.now()) / 1000));
    countdown.textContent = t("app.code.seconds_left", { seconds: left });
    bar.firstChild.style.width = `${Math.min(100, (left / code.ttl) * 100)}%`;
    if (left > 0) return;
    clearInterval(timer);
    if (autoLeft > 0 && document.visibilityState === "visible") { autoLeft -= 1; issue(); return; }
    card.classList.add("expired");
    expired.hidden = false;
    countdown.textContent = "";
  }

  async function issue() {
    problem.hidden = true;
    try {
      const body = keep.checked ? { use_points: false } : undefined;
      const answer = await busyWhile(refresh, "app.code.issuing", () => app.api.post("/api/v1/wallet/one-time-code", body));
      if (scope.left) return;
      // The server's clock sets the expiry; a phone's clock that is off must not stretch it.
      const ttl = Math.max(1, Math.min(60, Math.round((Date.parse(answer.expires_at) - Date.now()) / 1000))) || 60;
      code = { value: answer.code, expiresAt: Date.now() + ttl * 1000, ttl };
      renderQr(qr, answer.qr_payload, { label: t("app.code.qr_label") });
      renderBarcode(barcode, answer.code, { label: t("app.code.barcode_label") });
      digits.textContent = spaced(answer.code);
      digits.dataset.code = answer.code;
      digits.dataset.usePoints = String(!keep.checked);
      card.classList.remove("expired");
      expired.hidden = true;
      clearInterval(timer);
      tick();
      timer = setInterval(tick, 500);
    } catch (error) {
      if (scope.left) return;
      problem.textContent = describeError(error);
      problem.hidden = false;
      card.classList.add("expired");
    }
  }

  async function poll() {
    if (scope.left) return;
    try {
      if (document.visibilityState === "visible") {
        const page = await app.api.get("/api/v1/wallet/transactions?limit=10");
        if (scope.left) return;
        const paid = page.items.find((line) => line.kind === "payment" && !seen.has(line.id));
        if (paid) {
          clearInterval(timer);
          app.receipt = { payment: receiptFromHistory(paid, page.items) };
          app.go("receipt"); // its heading says so, and takes the focus to be read out
          return;
        }
      }
    } catch {
      // A missed poll is retried; the shop's till has the authoritative answer anyway.
    }
    pollTimer = setTimeout(poll, POLL_MS);
  }

  refresh.addEventListener("click", () => { autoLeft = AUTO_REFRESHES; issue(); });
  // The choice travels with the code: a new code carries the new choice.
  keep.addEventListener("change", () => { autoLeft = AUTO_REFRESHES; issue(); });

  // What was already there before the code is shown does not count as "just paid".
  const [history, wallet] = await Promise.all([
    app.api.get("/api/v1/wallet/transactions?limit=10"),
    app.api.get("/api/v1/wallet").catch(() => null),
  ]);
  if (scope.left) return;
  for (const line of history.items) seen.add(line.id);
  if (wallet) {
    balance.textContent = t("app.code.balance", { money: yen(wallet.money), points: number(wallet.points) });
    keepBox.hidden = wallet.points <= 0;
  }
  await issue();
  pollTimer = setTimeout(poll, POLL_MS);
}
