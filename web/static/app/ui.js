// Small building blocks shared by the app's screens: headings, labelled fields, amounts,
// history lines and the "one key per attempt" rule for money-moving requests.
import { ApiError, dateTime, h, idempotencyKey, number, t, wholeNumber, yen } from "/static/js/core.js";

/** A screen: a section with its heading (focusable, so route changes can move focus to it). */
export function screen(titleKey, ...children) {
  return h("section", { class: "screen", "aria-labelledby": "screen-title" },
    h("h1", { id: "screen-title", tabindex: "-1" }, t(titleKey)), ...children);
}

/** A hidden error box that core.js `showError` fills in. */
export function errorBox(id) {
  return h("div", { id, class: "alert alert-error", role: "alert", hidden: true });
}

export function loadingLine() {
  return h("p", { class: "muted loading", role: "status" }, t("state.loading"));
}

/** A labelled input with an optional hint and a slot for its own error message. */
export function field(input, labelKey, { hint = null, optional = false } = {}) {
  const describedBy = [];
  const hintEl = hint ? h("p", { class: "hint", id: `${input.id}-hint` }, hint) : null;
  if (hintEl) describedBy.push(hintEl.id);
  const errorEl = h("p", { class: "field-error", id: `${input.id}-error`, hidden: true });
  describedBy.push(errorEl.id);
  input.setAttribute("aria-describedby", describedBy.join(" "));
  // A message about what was typed goes away as soon as the person changes it.
  input.addEventListener(input.tagName === "SELECT" ? "change" : "input", () => setFieldError(input, ""));
  const label = h("label", { for: input.id }, t(labelKey),
    optional ? h("span", { class: "optional" }, t("app.field.optional")) : null);
  return h("div", { class: "field" }, label, input, hintEl, errorEl);
}

export function setFieldError(input, message) {
  const slot = document.getElementById(`${input.id}-error`);
  if (slot) {
    slot.textContent = message || "";
    slot.hidden = !message;
  }
  if (message) input.setAttribute("aria-invalid", "true");
  else input.removeAttribute("aria-invalid");
}

export function clearFieldErrors(form) {
  for (const input of form.querySelectorAll("[aria-invalid]")) setFieldError(input, "");
}

/** Integer yen from what a person typed: full-width digits, commas and ¥ are fine. */
export function parseYen(text) {
  const value = wholeNumber(text);
  return value !== null && value < 1e9 ? value : null;
}

/** A localized problem with an amount, or "" when it is fine. */
export function amountProblem(text, max) {
  if (String(text).trim() === "") return t("app.amount.required");
  const value = parseYen(text);
  if (value === null) return t("app.amount.integer");
  if (value < 1) return t("app.amount.positive");
  if (max && value > max) return t("app.amount.too_large", { max: yen(max) });
  return "";
}

/** A yen input sized for thumbs: numeric keyboard, no decimals. */
export function amountInput(id) {
  return h("input", {
    id, name: "amount", class: "amount-input", inputmode: "numeric", autocomplete: "off",
    enterkeyhint: "done", required: true, placeholder: "0",
  });
}

export function signedYen(change) {
  if (!change) return yen(0);
  return `${change > 0 ? "+" : "−"}${yen(Math.abs(change))}`;
}

export function signedPoints(change) {
  return `${change > 0 ? "+" : "−"}${number(Math.abs(change))} ${t("app.points.unit")}`;
}

const KIND_ICONS = {
  topup: "＋", p2p_in: "↓", p2p_out: "↑", payment: "¥", refund: "↺",
  points_grant: "P", points_expiry: "⌛", reward: "★", benefit_grant: "給", closure_refund_back: "↩",
};

const SOURCES = new Set(["bank", "atm", "konbini", "seed", "desk"]);

/** Where a top-up came from, in words (the funding network names it). */
function sourceName(source) {
  return SOURCES.has(source) ? t(`app.source.${source}`) : source;
}

/** What a refund took back of the points its payment had earned, in words (or null). */
export function revokedNote(pointsRevoked) {
  return pointsRevoked > 0 ? t("app.refund.points_revoked", { points: number(pointsRevoked) }) : null;
}

/** One line of the wallet's history, in words; it opens the line's receipt (#/tx/<id>). */
export function transactionItem(tx) {
  const changes = [];
  if (tx.money_change) {
    changes.push(h("span", { class: `tx-money ${tx.money_change > 0 ? "plus" : "minus"}` }, signedYen(tx.money_change)));
  }
  if (tx.points_change) {
    changes.push(h("span", { class: `tx-points ${tx.points_change > 0 ? "plus" : "minus"}` }, signedPoints(tx.points_change)));
  }
  if (!changes.length) changes.push(h("span", { class: "tx-money" }, yen(tx.amount)));
  const who = ["topup", "closure_refund", "closure_refund_back"].includes(tx.kind) ? sourceName(tx.counterparty) : tx.counterparty;
  const revoked = tx.kind === "refund" ? revokedNote(tx.points_revoked) : null;
  return h("li", { class: `tx tx-${tx.kind}`, dataset: { id: tx.id, kind: tx.kind } },
    h("a", { class: "tx-open", href: `#/tx/${encodeURIComponent(tx.id)}` },
      h("span", { class: "tx-icon", "aria-hidden": "true" }, KIND_ICONS[tx.kind] || "•"),
      h("span", { class: "tx-main" },
        h("span", { class: "tx-kind" }, t(`app.kind.${tx.kind}`)),
        who ? h("span", { class: "tx-who" }, who) : null,
        tx.message ? h("span", { class: "tx-message" }, `“${tx.message}”`) : null,
        revoked ? h("span", { class: "tx-message tx-revoked" }, revoked) : null,
        h("time", { class: "tx-time", datetime: tx.created_at }, dateTime(tx.created_at))),
      h("span", { class: "tx-amounts" }, changes)));
}

/**
 * The idempotency rule for money-moving requests: one key per attempt. A retry of the
 * same attempt (same body, after a network failure or a server error, when we cannot know
 * whether it went through) reuses the key, so the server answers with the first result
 * instead of paying twice. A definite refusal ends the attempt.
 */
export function attempts() {
  let current = null;
  return {
    keyFor(body) {
      const signature = JSON.stringify(body);
      if (!current || current.signature !== signature) current = { signature, key: idempotencyKey() };
      return current.key;
    },
    settle(error) {
      if (!error || (error instanceof ApiError && error.status < 500)) current = null;
    },
  };
}

/** Disable a button while a request runs, showing a busy label. */
export async function busyWhile(button, labelKey, work) {
  const label = button.textContent;
  button.disabled = true;
  button.setAttribute("aria-busy", "true");
  button.textContent = t(labelKey);
  try {
    return await work();
  } finally {
    button.disabled = false;
    button.removeAttribute("aria-busy");
    button.textContent = label;
  }
}
