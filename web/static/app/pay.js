// Confirm and pay: the shop's name and shopping street first, then the amount (typed for a
// sticker, fixed for a shop's charge), what will come from points and from money, the
// points the payment earns ("+N pt", the server's preview with the payment's own rules),
// the choice to keep the points (ポイントを使わない), and pay.
import { ApiError, h, number, showError, t, yen } from "/static/js/core.js";
import { percent } from "/static/js/shops.js";
import { amountInput, amountProblem, attempts, busyWhile, errorBox, field, parseYen, screen, setFieldError } from "./ui.js";

// Automatic retries of a payment the server was too busy to take; then the person decides
// (a manual retry still sends the same key: see attempts() in ui.js).
const BUSY_RETRIES = 3;

// The reward preview is asked again this long after the last keystroke.
const PREVIEW_DELAY_MS = 300;

/** Points are spent first, then money (the server's rule), unless the resident keeps them. */
function split(amount, wallet, keepPoints) {
  const points = keepPoints ? 0 : Math.min(wallet.points, amount);
  return { points, money: amount - points, moneyAfter: wallet.money - (amount - points) };
}

// A shop front (awning and door), drawn rather than an emoji: not every phone has the font.
const SHOP_ICON = '<svg viewBox="0 0 24 24" width="30" height="30" focusable="false"><path d="M4 10v10h16V10M3 4h18l1 5a3 3 0 0 1-5 1 3 3 0 0 1-5 0 3 3 0 0 1-5 0 3 3 0 0 1-5-1zM10 20v-5h4v5" fill="none" stroke="currentColor" stroke-width="1.8" stroke-linejoin="round"/></svg>';

function merchantCard(resolved) {
  const { merchant } = resolved;
  const icon = h("span", { class: "merchant-icon", "aria-hidden": "true" });
  icon.innerHTML = SHOP_ICON;
  return h("section", { class: "card merchant-card", "aria-labelledby": "pay-shop-name" },
    icon,
    h("div", {},
      h("p", { class: "muted" }, t("app.pay.paying_to")),
      h("h2", { id: "pay-shop-name" }, merchant.name),
      h("p", { id: "pay-shop-street", class: "street" },
        merchant.shopping_street ? t("app.pay.street", { street: merchant.shopping_street }) : t("street.none"))));
}

/**
 * A refusal was about the amount that was sent ("残高が不足しています" for ¥3,000): once the
 * amount changes it no longer applies, and left standing it reads as the new amount's.
 */
function clearStaleRefusal(problem) {
  if (problem.hidden) return;
  problem.hidden = true;
  problem.textContent = "";
}

export async function render(root, app, scope) {
  const pending = app.pendingPayment;
  if (!pending) { app.go("scan"); return; }
  const { payload, resolved } = pending;
  const fixed = resolved.amount;
  const problem = errorBox("pay-error");
  const busy = h("p", { id: "pay-busy", class: "alert alert-info", role: "status", hidden: true });
  const preview = h("dl", { class: "pay-preview", id: "pay-preview", hidden: true });
  const confirm = h("button", { id: "pay-confirm", class: "btn btn-block btn-lg", type: "submit" }, t("app.pay.confirm"));
  const reward = h("div", { id: "pay-reward", class: "pay-reward", role: "status", hidden: true });
  const keep = h("input", { id: "pay-keep-points", type: "checkbox", role: "switch", "aria-describedby": "pay-keep-hint" });
  const keepBox = h("div", { class: "keep-points", id: "pay-keep-box", hidden: true },
    h("label", { for: keep.id, class: "switch" }, keep, h("span", {}, t("app.pay.keep_points"))),
    h("p", { class: "hint", id: "pay-keep-hint" }));
  const input = fixed === null ? amountInput("pay-amount") : null;
  const amountPart = input
    ? field(input, "app.pay.amount", { hint: t("app.pay.amount_hint") })
    : h("div", { class: "fixed-amount" },
      h("p", { class: "muted" }, t("app.pay.fixed_amount")),
      h("p", { class: "figure", id: "pay-fixed-amount" }, yen(fixed)));
  const form = h("form", { class: "card", novalidate: true, "aria-label": t("app.pay.form") },
    amountPart, keepBox, preview, reward, problem, busy, confirm,
    h("a", { class: "btn btn-secondary btn-block", href: "#/scan" }, t("app.pay.rescan")));
  root.append(screen("app.pay.title", h("div", { class: "narrow" }, merchantCard(resolved), form)));

  let wallet = null;
  let maxPayment = null;
  const payAttempts = attempts();
  // What this payment would earn, as the server previewed it (the resolve answer first).
  let rewardPreview = resolved.reward;
  let previewTimer = null;
  let previewAsked = 0;

  function showReward() {
    const r = rewardPreview;
    if (!r) { reward.hidden = true; return; }
    const rate = t("app.pay.reward_rate", { rate: percent(r.rate_bp), campaign: r.campaign_name });
    const capLine = r.cap_left === null ? null
      : h("p", { class: "muted small", id: "pay-reward-cap" },
        r.cap_left === 0 ? t("app.pay.reward_capped") : t("app.pay.reward_cap_left", { points: number(r.cap_left) }));
    reward.replaceChildren(
      h("p", { class: "pay-reward-line" },
        h("span", {}, t("app.pay.reward")), " ",
        r.resident_points === null ? null : h("strong", { id: "pay-reward-points" }, `+${number(r.resident_points)} pt`)),
      h("p", { class: "muted small", id: "pay-reward-rate" }, rate), capLine);
    reward.hidden = false;
  }

  /** Ask the server what paying this amount now earns (the last answer asked wins). */
  function askPreview() {
    clearTimeout(previewTimer);
    previewTimer = setTimeout(async () => {
      const value = amount();
      const valid = value && !(input && amountProblem(input.value, maxPayment));
      const body = { payload, use_points: !keep.checked };
      if (input && valid) body.amount = value;
      const mine = ++previewAsked;
      try {
        const answer = await app.api.post("/api/v1/qr/resolve", body);
        if (scope.left || mine !== previewAsked) return;
        rewardPreview = answer.reward;
        showReward();
      } catch {
        // Only a preview: paying works without it (the payment decides the reward anyway).
      }
    }, PREVIEW_DELAY_MS);
  }
  scope.onLeave(() => clearTimeout(previewTimer));

  function amount() { return fixed ?? parseYen(input.value); }

  /**
   * Pay; when the server is too busy to take it (503 with Retry-After: nothing was done),
   * wait as long as it asks and send the same request with the same key, a few times.
   */
  async function payPatiently(body, key) {
    for (let attempt = 1; ; attempt += 1) {
      try {
        return await app.api.post("/api/v1/payments", body, { headers: { "Idempotency-Key": key } });
      } catch (error) {
        const wait = error instanceof ApiError && error.status === 503 ? error.retryAfterMs : null;
        if (wait === null || attempt > BUSY_RETRIES || scope.left) throw error;
        busy.textContent = t("app.pay.busy", { seconds: Math.ceil(wait / 1000), attempt, max: BUSY_RETRIES });
        busy.hidden = false;
        await new Promise((resolve) => { setTimeout(resolve, wait); });
        if (scope.left) throw error;
      }
    }
  }

  function refresh() {
    const value = amount();
    const valid = value && !(input && amountProblem(input.value, maxPayment));
    confirm.textContent = valid ? t("app.pay.confirm_amount", { amount: yen(value) }) : t("app.pay.confirm");
    if (!wallet || !valid) { preview.hidden = true; return; }
    const parts = split(value, wallet, keep.checked);
    preview.replaceChildren(
      h("div", {}, h("dt", {}, t("app.pay.use_points")), h("dd", {}, `${number(parts.points)} ${t("app.points.unit")}`)),
      h("div", {}, h("dt", {}, t("app.pay.use_money")), h("dd", {}, yen(parts.money))),
      parts.moneyAfter < 0
        ? h("div", { class: "short" }, h("dt", {}, t("app.pay.shortfall")), h("dd", {}, yen(-parts.moneyAfter)))
        : h("div", {}, h("dt", {}, t("app.pay.money_after")), h("dd", {}, yen(parts.moneyAfter))));
    preview.hidden = false;
  }

  input?.addEventListener("input", () => { refresh(); askPreview(); clearStaleRefusal(problem); });
  keep.addEventListener("change", () => { refresh(); askPreview(); });
  // "３,０００" is read as 3000; show it back the way it will be paid.
  input?.addEventListener("blur", () => {
    const value = parseYen(input.value);
    if (value !== null && String(value) !== input.value) input.value = String(value);
  });

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    problem.hidden = true;
    if (input) {
      const message = amountProblem(input.value, maxPayment);
      setFieldError(input, message);
      if (message) { input.focus(); return; }
    }
    const body = fixed === null ? { qr_payload: payload, amount: amount() } : { qr_payload: payload };
    if (keep.checked) body.use_points = false;
    let failure = null;
    try {
      const key = payAttempts.keyFor(body);
      const payment = await busyWhile(confirm, "app.pay.paying", () => payPatiently(body, key));
      app.pendingPayment = null;
      app.receipt = { payment };
      app.go("receipt");
    } catch (error) {
      failure = error;
      if (scope.left) return;
      showError(problem, error);
      if (error instanceof ApiError && error.slug === "charge-unusable") confirm.disabled = true;
      refresh();
    } finally {
      busy.hidden = true;
      payAttempts.settle(failure);
    }
  });

  try {
    wallet = await app.api.get("/api/v1/wallet");
    maxPayment = wallet.limits.max_payment;
  } catch {
    // The server checks the balance anyway; without the wallet there is just no preview.
  }
  if (scope.left) return;
  if (wallet && wallet.points > 0) {
    keepBox.querySelector("#pay-keep-hint").textContent = t("app.pay.keep_points_hint", { points: number(wallet.points) });
    keepBox.hidden = false;
  }
  refresh();
  showReward();
  if (input) input.focus();
}
