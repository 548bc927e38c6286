// Small helpers the dashboard's tabs share.

import { ApiError, idempotencyKey, lang, nfkcDigits, yen } from "/static/js/core.js";

export const $ = (selector, root = document) => root.querySelector(selector);

export const yenOf = yen;

/** Digits only, full-width digits too (a Japanese IME types "１２００"). */
export function digitsOf(text) {
  return nfkcDigits(text).replace(/[^0-9]/g, "");
}

/** A whole-yen amount from what was typed ("1,200", "¥1200", "１２００"), or null. */
export function amountOf(text) {
  const digits = digitsOf(text);
  if (!digits) return null;
  const value = Number(digits);
  return Number.isSafeInteger(value) ? value : null;
}

/** Keep an amount field readable while typing: 1200 → 1,200. */
export function formatAmountField(input) {
  input.addEventListener("input", () => {
    const value = amountOf(input.value);
    input.value = value === null ? "" : value.toLocaleString("ja-JP");
    input.removeAttribute("aria-invalid");
  });
}

/** The time of day in Tokyo, HH:MM. */
export function clockOf(iso) {
  return new Date(iso).toLocaleTimeString(lang === "en" ? "en-GB" : "ja-JP", {
    timeZone: "Asia/Tokyo", hour: "2-digit", minute: "2-digit",
  });
}

/** Disable a button while its request runs, with a label saying so. */
export async function busy(button, label, work) {
  const before = button.textContent;
  button.disabled = true;
  button.setAttribute("aria-busy", "true");
  if (label) button.textContent = label;
  try {
    return await work();
  } finally {
    button.disabled = false;
    button.removeAttribute("aria-busy");
    button.textContent = before;
  }
}

/** On-screen number keys for a till's touch screen, typing into their target input. */
export function wireKeypad(pad) {
  const input = document.getElementById(pad.dataset.target);
  pad.addEventListener("click", (event) => {
    const key = event.target.closest("[data-key]")?.dataset.key;
    if (!key) return;
    const digits = digitsOf(input.value);
    const next = key === "back" ? digits.slice(0, -1) : (digits + key).replace(/^0+/, "");
    input.value = next.slice(0, 7);
    input.dispatchEvent(new Event("input"));
  });
}

/**
 * One Idempotency-Key per attempt of a money-moving request. The same key is sent again
 * only when the last try never got an answer (network down, 5xx): the server stores
 * refusals too, so after a 4xx a new try must be a new key.
 */
export function attempts() {
  let last = null;
  return {
    keyFor(body) {
      const text = JSON.stringify(body);
      if (last?.body !== text) last = { body: text, key: idempotencyKey() };
      return last.key;
    },
    settled(error) {
      if (!error || (error instanceof ApiError && error.status < 500)) last = null;
    },
  };
}
