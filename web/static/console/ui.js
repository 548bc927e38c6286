// Small building blocks the console's screens share: fields with their errors, badges,
// tables, names of reference data, Tokyo date-times for datetime-local inputs.

import { createApi, h, lang, t, describeError, ApiError } from "/static/js/core.js";

export const api = createApi("console");

/** Who is signed in and the ward's reference data, loaded once after sign-in. */
export const state = {
  me: null,
  districts: [],
  streets: [],
  categories: [],
};

export const STORE_TYPES = ["small", "chain", "large"];

export const can = {
  writeCampaigns: () => ["officer", "approver"].includes(state.me?.role),
  approveCampaigns: () => state.me?.role === "approver",
  createStreets: () => ["officer", "operator"].includes(state.me?.role),
  approveMerchants: () => ["officer", "operator"].includes(state.me?.role),
  publishNotices: () => state.me?.role === "officer",
};

export async function loadReference({ streetsOnly = false } = {}) {
  const streets = api.get("/api/v1/shopping-streets");
  if (streetsOnly) {
    state.streets = await streets;
    return;
  }
  const [districts, streetList, categories] = await Promise.all([
    api.get("/api/v1/districts"), streets, api.get("/api/v1/merchant-categories"),
  ]);
  state.districts = districts;
  state.streets = streetList;
  state.categories = categories;
}

const localName = (item) => (item ? (lang === "en" ? item.name_en || item.name : item.name) : null);

export function districtName(id) {
  if (!id) return t("console.notices.whole_ward");
  return localName(state.districts.find((d) => d.id === id)) ?? id;
}

export function streetName(id) {
  if (id === null || id === undefined) return t("street.none");
  return localName(state.streets.find((s) => s.id === Number(id))) ?? `#${id}`;
}

export function categoryName(code) {
  return localName(state.categories.find((c) => c.code === code)) ?? code;
}

export function storeTypeName(code) {
  return code ? t(`console.store_type.${code}`) : t("street.none");
}

/** 3000 basis points → "30%" (up to two decimals). */
export function percent(bp) {
  if (bp === null || bp === undefined) return "–";
  return `${Number((bp / 100).toFixed(2))}%`;
}

const STATUS_BADGE = {
  draft: "badge-grey", submitted: "badge-warn", approved: "badge-info", active: "",
  ended: "badge-grey", closed: "badge-grey", withdrawn: "badge-grey",
  pending: "badge-warn", suspended: "badge-red", rejected: "badge-red",
  sent: "badge-info", paid: "", failed: "badge-red",
};

export function statusBadge(status, prefix = "console.status") {
  return h("span", { class: `badge ${STATUS_BADGE[status] ?? ""}`, dataset: { status } }, t(`${prefix}.${status}`));
}

export function pageHeader(title, ...actions) {
  return h("div", { class: "page-header" },
    h("h1", { tabindex: "-1", class: "view-title" }, title),
    actions.length ? h("div", { class: "row" }, ...actions) : null,
  );
}

export function loadingBox() {
  return h("p", { class: "muted loading", role: "status" }, h("span", { class: "spinner", "aria-hidden": "true" }), t("state.loading"));
}

export function emptyBox(text = t("state.empty")) {
  return h("p", { class: "empty" }, text);
}

/** An error message with a retry button. */
export function errorBox(error, retry) {
  const box = h("div", { class: "alert alert-error", role: "alert" }, describeError(error));
  if (retry) box.append(" ", h("button", { type: "button", class: "btn btn-sm btn-secondary", onclick: retry }, t("action.retry")));
  return box;
}

/** A table in a scrolling wrapper; cells may be nodes or strings; {num: true} cells align right. */
export function table(headers, rows, { caption, id } = {}) {
  // Focusable so a keyboard can scroll a wide table on a phone.
  return h("div", { class: "table-wrap", tabindex: "0", role: "region", "aria-label": caption || null },
    h("table", { id },
      caption ? h("caption", { class: "sr-only" }, caption) : null,
      h("thead", {}, h("tr", {}, headers.map((head) => {
        const spec = typeof head === "string" ? { text: head } : head;
        return h("th", { scope: "col", class: spec.num ? "num" : null }, spec.text);
      }))),
      h("tbody", {}, rows),
    ),
  );
}

export function cell(content, { num = false, cls = "" } = {}) {
  return h("td", { class: [num ? "num" : "", cls].join(" ").trim() || null }, content);
}

/**
 * A labelled form control with a hint and an error line, both tied to it by aria-describedby.
 * kind: "input" (default), "select" (options: [[value, label]]), "textarea".
 */
export function field({ id, label, kind = "input", hint, options = [], suffix, ...attrs }) {
  const described = [hint ? `${id}-hint` : null, `${id}-error`].filter(Boolean).join(" ");
  let control;
  if (kind === "select") {
    control = h("select", { id, name: id, "aria-describedby": described, ...attrs },
      options.map(([value, text]) => h("option", { value }, text)));
  } else if (kind === "textarea") {
    control = h("textarea", { id, name: id, "aria-describedby": described, ...attrs });
  } else {
    control = h("input", { id, name: id, "aria-describedby": described, ...attrs });
  }
  return h("div", { class: "field", dataset: { field: id } },
    h("label", { for: id }, label, attrs.required ? h("span", { class: "req" }, ` ${t("console.form.required")}`) : null),
    suffix ? h("div", { class: "input-suffix" }, control, h("span", { "aria-hidden": "true" }, suffix)) : control,
    hint ? h("p", { class: "hint", id: `${id}-hint` }, hint) : null,
    h("p", { class: "field-error", id: `${id}-error`, hidden: true }),
  );
}

export function setFieldError(form, id, message) {
  const control = form.querySelector(`#${CSS.escape(id)}`);
  const line = form.querySelector(`#${CSS.escape(id)}-error`);
  if (control) control.setAttribute("aria-invalid", "true");
  if (line) { line.textContent = message; line.hidden = false; }
  return Boolean(line);
}

export function clearFieldErrors(form) {
  form.querySelectorAll("[aria-invalid]").forEach((el) => el.removeAttribute("aria-invalid"));
  form.querySelectorAll(".field-error").forEach((el) => { el.textContent = ""; el.hidden = true; });
  const summary = form.querySelector(".form-summary");
  if (summary) { summary.hidden = true; summary.replaceChildren(); }
}

/** Show a list of problems at the top of a form and focus the first invalid control. */
export function showFormSummary(form, messages) {
  const summary = form.querySelector(".form-summary");
  if (summary) {
    summary.replaceChildren(
      h("p", {}, h("strong", {}, t("problem.validation-error"))),
      messages.length ? h("ul", {}, messages.map((m) => h("li", {}, m))) : null,
    );
    summary.hidden = false;
  }
  const first = form.querySelector("[aria-invalid='true']");
  (first || summary)?.focus();
}

/** A problem+json's field errors as [[field, message]] ("/body/name" → "name"). */
export function problemFieldErrors(error) {
  if (!(error instanceof ApiError)) return [];
  const out = (error.problem.errors || []).map((e) => {
    const parts = String(e.pointer || "").split("/").filter(Boolean);
    if (parts[0] === "body") parts.shift();
    return [parts.join("."), e.message || ""];
  });
  if (error.problem.field) out.push([error.problem.field, error.problem.detail || ""]);
  return out;
}

/** "2026-05-01T10:00" in Tokyo for a datetime-local input. */
export function tokyoLocalInput(date = new Date()) {
  return date.toLocaleString("sv-SE", { timeZone: "Asia/Tokyo" }).replace(" ", "T").slice(0, 16);
}

/** A datetime-local value read as Tokyo time → ISO 8601 with +09:00. */
export function tokyoIso(value) {
  return value ? `${value}:00+09:00` : null;
}

export function definitionList(pairs) {
  return h("dl", { class: "terms" }, pairs.filter(Boolean).flatMap(([term, value]) => [h("dt", {}, term), h("dd", {}, value)]));
}

export function kpi(label, value, { id, note, cls = "" } = {}) {
  return h("div", { class: `kpi ${cls}`.trim() },
    h("div", { class: "kpi-label" }, label),
    h("div", { class: "kpi-value", id }, value),
    note ? h("div", { class: "kpi-note" }, note) : null,
  );
}

/** Run an action on a button: disabled while it runs, errors shown where asked. */
export async function busy(button, action) {
  const before = button.disabled;
  button.disabled = true;
  button.setAttribute("aria-busy", "true");
  try {
    return await action();
  } finally {
    button.disabled = before;
    button.removeAttribute("aria-busy");
  }
}

/** replaceChildren, leaving out null/false (a role's missing part). */
export function fill(element, ...children) {
  element.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
}

/**
 * Ask before a power is used: a modal <dialog> that says what will happen, with an optional
 * reason field. Resolves to { reason } when confirmed, null when cancelled (button, Escape).
 *
 * showModal() keeps focus inside the dialog and makes the page behind it inert; focus starts
 * on the reason (when there is one) or on Cancel (a stray Enter must not suspend a shop), and
 * returns to the button that opened it.
 */
export function confirmDialog({
  id, title, body = [], confirmLabel, danger = false, reason = null, opener = document.activeElement,
}) {
  const titleId = `${id}-title`;
  const bodyId = `${id}-body`;
  const reasonId = `${id}-reason`;
  const cancel = h("button", { type: "button", class: "btn btn-secondary", id: `${id}-cancel` }, t("action.cancel"));
  const confirm = h("button", { type: "submit", class: `btn ${danger ? "btn-danger" : ""}`.trim(), id: `${id}-confirm` }, confirmLabel);
  const reasonField = reason
    ? field({
      id: reasonId, label: reason.label, kind: "textarea", rows: "3", maxlength: String(reason.max),
      required: reason.required || null, hint: reason.hint,
    })
    : null;
  const form = h("form", { method: "dialog", novalidate: true }, reasonField,
    h("div", { class: "form-actions" }, cancel, confirm));
  const dialog = h("dialog", { id, class: "confirm-dialog", "aria-labelledby": titleId, "aria-describedby": bodyId },
    h("h2", { id: titleId }, title),
    h("div", { id: bodyId, class: "confirm-body" }, body),
    form,
  );
  return new Promise((resolve) => {
    let answer = null;
    cancel.addEventListener("click", () => dialog.close());
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      clearFieldErrors(form);
      const text = reason ? form.querySelector(`#${reasonId}`).value.normalize("NFKC").trim() : "";
      if (reason?.required && !text) {
        setFieldError(form, reasonId, t("console.error.required", { field: reason.label }));
        form.querySelector(`#${reasonId}`).focus();
        return;
      }
      if (reason && text.length > reason.max) {
        setFieldError(form, reasonId, t("console.error.too_long_text", { max: reason.max }));
        form.querySelector(`#${reasonId}`).focus();
        return;
      }
      answer = { reason: text || null };
      dialog.close();
    });
    dialog.addEventListener("close", () => {
      dialog.remove();
      if (opener && opener.isConnected) opener.focus();
      resolve(answer);
    });
    document.body.append(dialog);
    dialog.showModal();
    (reason ? form.querySelector(`#${reasonId}`) : cancel).focus();
  });
}
