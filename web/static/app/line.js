// One line of the history as a receipt (#/tx/<id>): the transaction number, the shop and its
// street, the amount, what came from points and from money, the points earned (or, for a
// refund, taken back), the time in JST. Opened from a history row.
import { dateTime, h, number, showError, t, yen } from "/static/js/core.js";
import { errorBox, loadingLine, revokedNote, screen, signedPoints, signedYen } from "./ui.js";

function lineId() {
  const id = location.hash.replace(/^#\/?tx\/?/, "").split("/")[0];
  try { return decodeURIComponent(id); } catch { return ""; }
}

function row(labelKey, value, id) {
  return h("div", {}, h("dt", {}, t(labelKey)), h("dd", { id }, value));
}

function pts(value) {
  return `${number(value)} ${t("app.points.unit")}`;
}

function shopLines(merchant) {
  if (!merchant) return [];
  return [
    h("p", { class: "receipt-shop", id: "line-shop" }, merchant.name),
    h("p", { class: "muted receipt-street", id: "line-street" }, merchant.shopping_street || t("street.none")),
  ];
}

/** What a payment's receipt says about its points: earned, waiting, or none. */
function earnedPoints(line) {
  const { resident_points: points, granted } = line.rewards;
  if (points === 0) return [row("app.line.points_earned", pts(0), "line-points-earned")];
  return [row(granted ? "app.line.points_earned" : "app.line.points_pending", `+${pts(points)}`, "line-points-earned")];
}

function paymentDetails(line) {
  const rows = [
    row("app.receipt.points_used", pts(line.paid_with.points), "line-points-used"),
    row("app.receipt.money_used", yen(line.paid_with.money), "line-money-used"),
    ...earnedPoints(line),
  ];
  if (line.refunded_amount > 0) rows.push(row("app.line.refunded", yen(line.refunded_amount), "line-refunded"));
  return rows;
}

function refundDetails(line) {
  const { refund } = line;
  const rows = [
    row("app.line.back_to_points", pts(refund.points_back), "line-points-back"),
    row("app.line.back_to_money", yen(refund.money_back), "line-money-back"),
  ];
  if (refund.points_revoked > 0) rows.push(row("app.line.points_revoked", `−${pts(refund.points_revoked)}`, "line-points-revoked"));
  rows.push(row("app.line.payment", h("a", { href: `#/tx/${encodeURIComponent(refund.payment_id)}` }, h("code", {}, refund.payment_id)), "line-payment"));
  return rows;
}

function otherDetails(line) {
  const rows = [];
  if (line.counterparty) rows.push(row("app.line.counterparty", line.counterparty, "line-counterparty"));
  if (line.message) rows.push(row("app.transfer.message", line.message, "line-message"));
  if (line.money_change) rows.push(row("app.line.money_change", signedYen(line.money_change), "line-money-change"));
  if (line.points_change) rows.push(row("app.line.points_change", signedPoints(line.points_change), "line-points-change"));
  return rows;
}

function notes(line) {
  if (line.kind !== "refund" || !line.refund) return null;
  const { points_revoked: revoked, money_withheld: withheld } = line.refund;
  if (!revoked) return null;
  return h("div", { class: "reward-note", id: "line-revoked-note" },
    h("p", {}, revokedNote(revoked)),
    withheld > 0 ? h("p", {}, t("app.refund.withheld", { points: number(withheld), money: yen(withheld) })) : null);
}

function receiptCard(line) {
  const details = line.kind === "payment" && line.paid_with ? paymentDetails(line)
    : line.kind === "refund" && line.refund ? refundDetails(line) : otherDetails(line);
  return h("div", { class: "card receipt line-receipt", id: "line-receipt", dataset: { kind: line.kind } },
    h("p", { class: "muted line-kind", id: "line-kind" }, t(`app.kind.${line.kind}`)),
    ...shopLines(line.merchant),
    h("p", { class: "receipt-amount", id: "line-amount" }, yen(line.amount)),
    h("dl", { class: "receipt-lines" },
      ...details,
      row("app.receipt.time", dateTime(line.created_at, { second: "2-digit" }), "line-time"),
      row("app.receipt.id", h("code", {}, line.id), "line-id")),
    notes(line));
}

export async function render(root, app, scope) {
  const id = lineId();
  if (!id) { app.go("history"); return; }
  const body = h("div", {}, loadingLine());
  root.append(h("div", { class: "narrow" }, screen("app.line.title", body,
    h("div", { class: "receipt-actions" },
      h("a", { class: "btn btn-secondary btn-block", href: "#/history", id: "line-back" }, t("app.line.back"))))));
  try {
    const line = await app.api.get(`/api/v1/wallet/transactions/${encodeURIComponent(id)}`);
    if (scope.left) return;
    body.replaceChildren(receiptCard(line));
  } catch (error) {
    if (scope.left) return;
    const problem = errorBox("line-error");
    body.replaceChildren(h("div", { class: "card" }, problem));
    showError(problem, error);
  }
}
