// A shop's application as an officer decides on it: the whole application (bank account,
// owner, location, hours) on demand, a refusal with a reason the applicant reads, and the
// ward's CSV import of its recruitment list (dry run first, row-level errors).

import { h, t, dateTime, number, toast, showError } from "/static/js/core.js";
import { api, can, state, table, cell, definitionList, kpi, busy, loadingBox, errorBox } from "/static/console/ui.js";

const REASON_MAX = 500;

/** The "whole application" disclosure of a queue card, loaded when first opened. */
export function applicationDetails(shop) {
  const body = h("div", { class: "application-details", id: `details-${shop.id}` }, loadingBox());
  const details = h("details", { class: "application-more", dataset: { merchantId: shop.id } },
    h("summary", {}, t("console.merchants.details")),
    body,
  );
  let loaded = false;
  details.addEventListener("toggle", async () => {
    if (!details.open || loaded) return;
    loaded = true;
    try {
      body.replaceChildren(detailList(await api.get(`/api/v1/merchants/${shop.id}`)));
    } catch (error) {
      loaded = false;
      body.replaceChildren(errorBox(error));
    }
  });
  return details;
}

function detailList(app) {
  const none = t("console.merchants.none");
  const bank = app.bank;
  return definitionList([
    [t("console.merchants.bank"), t("console.merchants.bank_value", {
      bank: bank.bank_code, branch: bank.branch_code,
      type: t(`console.merchants.account_type.${bank.account_type}`), number: bank.account_number,
    })],
    [t("console.merchants.account_name"), bank.account_name_kana],
    [t("console.merchants.owner"), app.owner_username ?? none],
    [t("console.merchants.owner_phone"), app.owner_phone ?? none],
    [t("console.merchants.phone"), app.phone ?? none],
    [t("console.merchants.opening_hours"), app.opening_hours ?? none],
    [t("console.merchants.location"), app.location ? `${app.location.lat.toFixed(6)}, ${app.location.lon.toFixed(6)}` : none],
    [t("console.merchants.consented_at"), app.consented_at ? dateTime(app.consented_at) : none],
    app.import_ref ? [t("console.merchants.import_ref"), app.import_ref] : null,
    app.imported_by_name ? [t("console.merchants.imported_by"), app.imported_by_name] : null,
    app.rejection_reason ? [t("console.merchants.rejection_reason"), app.rejection_reason] : null,
  ]);
}

/** The reject button and its reason form; onRejected(shop) after the server agreed. */
export function rejectControl(shop, onRejected) {
  if (!can.approveMerchants()) return null;
  const id = `reject-reason-${shop.id}`;
  const reason = h("textarea", { id, rows: "3", maxlength: String(REASON_MAX), "aria-describedby": `${id}-hint ${id}-error`, required: true });
  const line = h("p", { class: "field-error", id: `${id}-error`, hidden: true });
  const failure = h("div", { hidden: true });
  const confirm = h("button", { type: "submit", class: "btn btn-danger", dataset: { rejectConfirm: shop.id } }, t("console.merchants.reject_confirm"));
  const cancel = h("button", { type: "button", class: "btn btn-secondary" }, t("console.merchants.reject_cancel"));
  const form = h("form", { class: "reject-form", novalidate: true, hidden: true, dataset: { rejectForm: shop.id } },
    h("div", { class: "field" },
      h("label", { for: id }, t("console.merchants.reject_reason")),
      reason,
      h("p", { class: "hint", id: `${id}-hint` }, t("console.merchants.reject_hint")),
      line,
    ),
    failure,
    h("div", { class: "form-actions" }, confirm, cancel),
  );
  const open = h("button", { type: "button", class: "btn btn-secondary", dataset: { reject: shop.id } }, t("console.merchants.reject"));
  open.addEventListener("click", () => { form.hidden = false; open.hidden = true; reason.focus(); });
  cancel.addEventListener("click", () => { form.hidden = true; open.hidden = false; open.focus(); });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    line.hidden = true;
    failure.hidden = true;
    reason.removeAttribute("aria-invalid");
    const text = reason.value.normalize("NFKC").trim();
    const problem = !text ? t("console.merchants.reject_required")
      : text.length > REASON_MAX ? t("console.merchants.reject_too_long") : null;
    if (problem) {
      line.textContent = problem;
      line.hidden = false;
      reason.setAttribute("aria-invalid", "true");
      reason.focus();
      return;
    }
    await busy(confirm, async () => {
      try {
        await api.post(`/api/v1/merchants/${shop.id}/reject`, { reason: text });
        toast(t("console.merchants.rejected_toast", { name: shop.name }));
        onRejected(shop);
      } catch (error) {
        showError(failure, error);
      }
    });
  });
  return { open, form };
}

// -- the import screen ---------------------------------------------------------------------

export function importScreen() {
  const file = h("input", { id: "import-file", type: "file", accept: ".csv,text/csv", "aria-describedby": "import-file-error" });
  const fileError = h("p", { class: "field-error", id: "import-file-error", hidden: true });
  const dry = h("button", { type: "button", class: "btn btn-secondary", id: "import-dry-run" }, t("console.import.dry_run"));
  const run = h("button", { type: "button", class: "btn", id: "import-run", disabled: true }, t("console.import.run"));
  const result = h("div", { id: "import-result", "aria-live": "polite" });
  let checked = null; // the file's text that a dry run passed: only that may be imported

  async function send(dryRun) {
    fileError.hidden = true;
    const chosen = file.files?.[0];
    if (!chosen) {
      fileError.textContent = t("console.import.no_file");
      fileError.hidden = false;
      file.focus();
      return;
    }
    // As bytes: a Shift_JIS file must reach the server undecoded.
    const bytes = await chosen.arrayBuffer();
    result.replaceChildren(loadingBox());
    try {
      const answer = await api.upload(`/api/v1/merchants/import?dry_run=${dryRun}`, bytes, "text/csv");
      result.replaceChildren(report(answer));
      checked = dryRun && answer.error_count === 0 ? chosen : null;
      run.disabled = !checked;
      if (!dryRun) toast(t("console.import.done_toast", { n: number(answer.created) }));
    } catch (error) {
      run.disabled = true;
      checked = null;
      const rows = error.problem?.errors;
      result.replaceChildren(Array.isArray(rows)
        ? h("div", {}, h("p", { class: "alert alert-error", role: "alert" }, t("console.import.refused")), errorTable(rows, rows.length))
        : errorBox(error));
    }
  }
  dry.addEventListener("click", () => busy(dry, () => send(true)));
  run.addEventListener("click", () => busy(run, () => send(false)));
  file.addEventListener("change", () => { run.disabled = true; checked = null; result.replaceChildren(); });

  return h("section", { class: "card", id: "import-screen" },
    h("h2", {}, t("console.import.title")),
    h("p", {}, t("console.import.lead")),
    h("p", { class: "hint" }, t("console.import.columns")),
    h("p", { class: "hint" }, t("console.import.owner_note")),
    h("div", { class: "field" }, h("label", { for: "import-file" }, t("console.import.file")), file, fileError),
    h("div", { class: "form-actions" }, dry, run),
    result,
  );
}

function report(answer) {
  return h("div", { class: "import-report" },
    h("h3", {}, answer.dry_run ? t("console.import.result_dry") : t("console.import.result_done")),
    h("div", { class: "kpis" },
      kpi(t("console.import.rows"), number(answer.rows), { id: "import-rows" }),
      kpi(t("console.import.valid"), number(answer.valid), { id: "import-valid" }),
      kpi(t("console.import.already"), number(answer.already_imported), { id: "import-already" }),
      answer.dry_run ? null : kpi(t("console.import.created"), number(answer.created), { id: "import-created" }),
      kpi(t("console.import.errors"), number(answer.error_count), { id: "import-errors", cls: answer.error_count ? "kpi-bad" : "" }),
    ),
    answer.error_count
      ? errorTable(answer.errors, answer.error_count)
      : h("p", { class: "alert alert-ok" }, t("console.import.all_ok")),
  );
}

function errorTable(errors, total) {
  const rows = errors.map((e) => h("tr", { dataset: { row: e.row, column: e.column } },
    cell(number(e.row), { num: true }), cell(h("code", {}, e.column)), cell(e.message)));
  return h("div", {},
    h("h4", {}, t("console.import.errors_title")),
    table([{ text: t("console.import.row"), num: true }, t("console.import.column"), t("console.import.message")], rows,
      { id: "import-errors-table", caption: t("console.import.errors_title") }),
    total > errors.length ? h("p", { class: "hint" }, t("console.import.more_errors", { n: number(total - errors.length) })) : null,
  );
}

export const canImport = () => state.me?.role === "officer";

// -- approving many at once ----------------------------------------------------------------

/** A card's "select" checkbox for the batch approval. */
export function selectBox(shop) {
  if (!can.approveMerchants()) return null;
  return h("label", { class: "select-shop" },
    h("input", { type: "checkbox", dataset: { select: shop.id }, "aria-label": t("console.merchants.select", { name: shop.name }) }),
    h("span", { "aria-hidden": "true" }, t("console.merchants.select_short")));
}

/**
 * Select all / approve the selected: one person's approval of each (an imported batch).
 * The server applies the two-person rule shop by shop; reload() redraws the queue.
 */
export function batchBar(list, reload) {
  if (!can.approveMerchants()) return null;
  const all = h("input", { type: "checkbox", id: "select-all" });
  const approve = h("button", { type: "button", class: "btn", id: "approve-selected", disabled: true }, t("console.merchants.approve_selected", { n: 0 }));
  const result = h("div", { id: "batch-result", hidden: true });
  const boxes = () => [...list.querySelectorAll("input[data-select]")];
  const chosen = () => boxes().filter((b) => b.checked).map((b) => Number(b.dataset.select));
  const update = () => {
    const n = chosen().length;
    approve.disabled = n === 0;
    approve.textContent = t("console.merchants.approve_selected", { n });
    all.checked = n > 0 && n === boxes().length;
  };
  all.addEventListener("change", () => { boxes().forEach((b) => { b.checked = all.checked; }); update(); });
  list.addEventListener("change", update);
  approve.addEventListener("click", () => busy(approve, async () => {
    result.hidden = true;
    try {
      const done = await api.post("/api/v1/merchants/approvals", { merchant_ids: chosen() });
      toast(t("console.merchants.batch_done", {
        first: number(done.first_approvals.length), opened: number(done.activated.length), refused: number(done.refused.length),
      }));
      await reload();
    } catch (error) {
      showError(result, error);
    }
  }));
  return h("div", { class: "batch-bar card" },
    h("label", { class: "select-shop", for: "select-all" }, all, t("console.merchants.select_all")),
    h("p", { class: "hint" }, t("console.merchants.batch_hint")),
    approve,
    result,
  );
}
