// The receipt after a payment (by scanning, or at the till with the one-time code).
import { dateTime, h, number, t, yen } from "/static/js/core.js";
import { screen } from "./ui.js";

/**
 * What the receipt says about points earned. `granted` is true (credited now), false
 * (deferred: credited after the campaign closes) or null (a till payment seen from the
 * history, where only points already credited are known).
 */
function rewardNote(rewards, paidWith) {
  if (rewards.resident_points > 0 && rewards.granted === false) return t("app.receipt.reward_deferred");
  if (rewards.resident_points > 0) return t("app.receipt.reward_granted");
  // Points back is earned on the money part only.
  if (paidWith.money === 0) return t("app.receipt.reward_points_only");
  if (rewards.granted === null) return t("app.receipt.reward_unknown");
  return t("app.receipt.reward_none");
}

function row(labelKey, value, id) {
  return h("div", {}, h("dt", {}, t(labelKey)), h("dd", { id }, value));
}

export function render(root, app) {
  const payment = app.receipt?.payment;
  if (!payment) { app.go("history"); return; }
  const { merchant, paid_with: paidWith, rewards } = payment;
  const points = `${number(rewards.resident_points)} ${t("app.points.unit")}`;
  root.append(h("div", { class: "narrow" }, screen("app.receipt.title",
    h("div", { class: "card receipt", id: "receipt" },
      h("div", { class: "receipt-check", "aria-hidden": "true" }, "✓"),
      h("p", { class: "receipt-shop", id: "receipt-shop" }, merchant.name),
      merchant.shopping_street ? h("p", { class: "muted receipt-street" }, merchant.shopping_street) : null,
      h("p", { class: "receipt-amount", id: "receipt-amount" }, yen(payment.amount)),
      h("dl", { class: "receipt-lines" },
        row("app.receipt.points_used", `${number(paidWith.points)} ${t("app.points.unit")}`, "receipt-points-used"),
        row("app.receipt.money_used", yen(paidWith.money), "receipt-money-used"),
        row("app.receipt.points_earned", rewards.resident_points > 0 ? `+${points}` : points, "receipt-points-earned"),
        row("app.receipt.time", dateTime(payment.created_at, { second: "2-digit" }), "receipt-time"),
        row("app.receipt.id", h("code", {}, payment.id), "receipt-id")),
      h("p", { class: rewards.resident_points > 0 ? "reward-note ok" : "reward-note", id: "receipt-reward-note" },
        rewardNote(rewards, paidWith))),
    h("div", { class: "receipt-actions" },
      h("a", { class: "btn btn-block", href: "#/home" }, t("app.receipt.home")),
      h("a", { class: "btn btn-secondary btn-block", href: "#/history" }, t("app.receipt.history"))))));
}
