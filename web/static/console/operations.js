// Operations (operators): run settlement, make the Zengin payout file, follow the payouts.

import { h, t, yen, number, dateTime, dateOnly, toast, showError, download, tokyoToday } from "/static/js/core.js";
import {
  api, state, pageHeader, loadingBox, emptyBox, errorBox, table, cell, field, setFieldError, clearFieldErrors,
  statusBadge, definitionList, busy,
  fill,
} from "/static/console/ui.js";

const PAYOUT_STATUSES = ["pending", "sent", "paid", "failed"];

function yesterday() {
  const [y, m, d] = tokyoToday().split("-").map(Number);
  const date = new Date(Date.UTC(y, m - 1, d - 1));
  return date.toISOString().slice(0, 10);
}

function zenginPath(fileId) {
  return `/api/v1/payout-files/${fileId}/zengin`;
}

/** Payouts left out of a file because their bank details cannot be written. */
function heldList(held) {
  return h("div", { class: "alert alert-error", role: "alert", id: "held-payouts" },
    h("p", {}, t("console.ops.held")),
    h("ul", {}, ...held.map((p) => h("li", {}, t("console.ops.held_item", {
      id: p.payout_id, merchant: p.merchant_id, amount: yen(p.amount), reason: p.reason,
    })))),
  );
}

async function downloadFile(button, fileId, errorEl) {
  await busy(button, async () => {
    try {
      await download(api, zenginPath(fileId), `zengin-${fileId}.txt`);
    } catch (error) {
      showError(errorEl, error);
    }
  });
}

export async function render(view) {
  const runForm = h("form", { id: "settlement-form", novalidate: true },
    field({ id: "as-of", label: t("console.ops.as_of"), type: "date", required: true, value: yesterday(), max: yesterday(), hint: t("console.ops.as_of_hint") }),
    h("div", { class: "form-actions" }, h("button", { type: "submit", class: "btn", id: "run-settlement" }, t("console.ops.run"))),
  );
  const runResult = h("div", { id: "settlement-result", "aria-live": "polite" });

  const fileForm = h("form", { id: "payout-file-form", novalidate: true },
    field({ id: "transfer-date", label: t("console.ops.transfer_date"), type: "date", hint: t("console.ops.transfer_date_hint") }),
    h("div", { class: "form-actions" }, h("button", { type: "submit", class: "btn", id: "create-payout-file" }, t("console.ops.create_file"))),
  );
  const fileResult = h("div", { id: "payout-file-result", "aria-live": "polite" });

  const statusFilter = field({
    id: "payout-status", label: t("console.ops.payout_status"), kind: "select",
    options: [["", t("console.campaigns.filter.all")], ...PAYOUT_STATUSES.map((s) => [s, t(`console.payout_status.${s}`)])],
  });
  const payoutsBox = h("div", {}, loadingBox());
  const more = h("button", { type: "button", class: "btn btn-secondary", hidden: true }, t("console.more"));
  const downloadError = h("div", { hidden: true });

  // The bank's results, imported by one operator, wait here for a second one to confirm.
  const importsCard = h("section", { class: "card", id: "result-imports", hidden: true });
  async function loadImports() {
    let pending;
    try {
      pending = await api.get("/api/v1/payouts/results?status=pending");
    } catch (error) {
      importsCard.replaceChildren(errorBox(error, loadImports));
      importsCard.hidden = false;
      return;
    }
    importsCard.hidden = !pending.length;
    importsCard.replaceChildren(
      h("h2", {}, t("console.ops.imports")),
      h("p", { class: "hint" }, t("console.ops.imports_hint")),
      h("ul", {}, ...pending.map((item) => {
        const error = h("div", { hidden: true });
        const own = item.imported_by === state.me?.user_id;
        const confirm = h("button", { type: "button", class: "btn btn-sm", disabled: own, dataset: { importId: item.id } }, t("console.ops.confirm_import"));
        confirm.addEventListener("click", () => busy(confirm, async () => {
          try {
            const done = await api.post(`/api/v1/payouts/results/${item.id}/confirm`);
            toast(t("console.ops.import_confirmed", { paid: number(done.paid), failed: number(done.failed) }));
            loadImports();
            loadPayouts(true);
          } catch (err) {
            showError(error, err);
          }
        }));
        return h("li", {},
          t("console.ops.import_item", { id: item.id, n: number(item.results), at: dateTime(item.imported_at) }), " ",
          confirm, own ? h("span", { class: "hint" }, ` ${t("console.ops.import_yours")}`) : null, error);
      })),
    );
  }
  loadImports();

  fill(view,
    pageHeader(t("console.nav.operations")),
    h("p", { class: "muted" }, t("console.ops.lead")),
    h("div", { class: "grid-2" },
      h("section", { class: "card" }, h("h2", {}, t("console.ops.settlement")), h("p", { class: "hint" }, t("console.ops.settlement_hint")), runForm, runResult),
      h("section", { class: "card" }, h("h2", {}, t("console.ops.payout_file")), h("p", { class: "hint" }, t("console.ops.payout_file_hint")), fileForm, fileResult),
    ),
    importsCard,
    h("section", { class: "card" },
      h("div", { class: "spread" }, h("h2", {}, t("console.ops.payouts")), statusFilter),
      downloadError,
      payoutsBox,
      h("div", { class: "center" }, more),
    ),
  );

  runForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearFieldErrors(runForm);
    const asOf = runForm.querySelector("#as-of").value;
    if (!asOf || asOf >= tokyoToday()) {
      setFieldError(runForm, "as-of", t("console.ops.as_of_past"));
      runForm.querySelector("#as-of").focus();
      return;
    }
    runResult.replaceChildren(loadingBox());
    await busy(runForm.querySelector("#run-settlement"), async () => {
      try {
        const r = await api.post("/api/v1/settlements/run", { as_of: asOf });
        runResult.replaceChildren(
          h("div", { class: `alert ${r.failures.length ? "alert-error" : "alert-ok"}`, role: "status" },
            t("console.ops.run_done", { date: r.as_of, settled: number(r.settled), merchants: number(r.merchants) })),
          definitionList([
            [t("console.ops.merchants"), number(r.merchants)],
            [t("console.ops.settled"), number(r.settled)],
            [t("console.ops.carried_forward"), number(r.carried_forward)],
            [t("console.ops.payout_total"), yen(r.payout_total)],
            [t("console.ops.fees"), yen(r.fees)],
            [t("console.ops.campaign_funded"), yen(r.campaign_funded)],
            [t("console.ops.failures"), r.failures.length ? r.failures.join(t("console.list_sep")) : t("console.ops.none")],
          ]),
        );
        toast(t("console.ops.run_toast"));
        loadPayouts(true);
      } catch (error) {
        runResult.replaceChildren();
        const box = h("div");
        showError(box, error);
        runResult.append(box);
      }
    });
  });

  fileForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearFieldErrors(fileForm);
    const transfer = fileForm.querySelector("#transfer-date").value || null;
    if (transfer && transfer < tokyoToday()) {
      setFieldError(fileForm, "transfer-date", t("console.ops.transfer_past"));
      fileForm.querySelector("#transfer-date").focus();
      return;
    }
    await busy(fileForm.querySelector("#create-payout-file"), async () => {
      try {
        const made = await api.post("/api/v1/payout-files", { transfer_date: transfer });
        if (!made) {
          fileResult.replaceChildren(h("p", { class: "alert alert-info", role: "status" }, t("console.ops.no_pending")));
          return;
        }
        const errorEl = h("div", { hidden: true });
        const button = h("button", { type: "button", class: "btn btn-secondary", id: "download-zengin" }, `⬇ ${t("console.ops.download")}`);
        button.addEventListener("click", () => downloadFile(button, made.id, errorEl));
        fileResult.replaceChildren(
          h("div", { class: "alert alert-ok", role: "status" }, t("console.ops.file_done", { count: number(made.count), total: yen(made.total) })),
          definitionList([
            [t("console.ops.file_id"), `#${made.id}`],
            [t("console.ops.transfer_date"), dateOnly(`${made.transfer_date}T00:00:00+09:00`)],
            [t("console.ops.count"), number(made.count)],
            [t("console.ops.total"), yen(made.total)],
            ["SHA-256", h("code", { class: "mono hash" }, made.sha256)],
          ]),
          made.held?.length ? heldList(made.held) : null,
          errorEl,
          button,
        );
        loadPayouts(true);
      } catch (error) {
        const box = h("div");
        showError(box, error);
        fileResult.replaceChildren(box, error.problem?.held?.length ? heldList(error.problem.held) : null);
      }
    });
  });

  let cursor = null;
  let rows = [];
  const shopNames = new Map();
  try {
    for (const shop of await api.get("/api/v1/merchants?limit=500")) shopNames.set(shop.id, shop.name);
  } catch { /* the payouts still show the shop's number */ }
  async function loadPayouts(reset) {
    if (reset) { cursor = null; rows = []; payoutsBox.replaceChildren(loadingBox()); }
    const params = new URLSearchParams({ limit: "50" });
    const status = view.querySelector("#payout-status").value;
    if (status) params.set("status", status);
    if (cursor) params.set("cursor", String(cursor));
    try {
      const page = await api.get(`/api/v1/payouts?${params}`);
      rows = rows.concat(page.items);
      cursor = page.next_cursor;
      more.hidden = !cursor;
      if (!rows.length) { payoutsBox.replaceChildren(emptyBox(t("console.ops.payouts_empty"))); return; }
      payoutsBox.replaceChildren(table(
        ["ID", t("console.ops.merchant"), { text: t("console.ops.amount"), num: true }, t("console.ops.status"), t("console.ops.file"), t("console.ops.created"), t("console.ops.resolved")],
        rows.map((p) => {
          let fileCell = "–";
          if (p.file_id) {
            const b = h("button", { type: "button", class: "btn btn-sm btn-secondary", "aria-label": t("console.ops.download_file", { id: p.file_id }) }, `#${p.file_id} ⬇`);
            b.addEventListener("click", () => downloadFile(b, p.file_id, downloadError));
            fileCell = b;
          }
          return h("tr", { dataset: { payoutId: p.id } },
            cell(`#${p.id}`), cell(shopNames.get(p.merchant_id) || `#${p.merchant_id}`), cell(yen(p.amount), { num: true }),
            cell(h("span", {}, statusBadge(p.status, "console.payout_status"), p.failure_reason ? h("div", { class: "muted" }, p.failure_reason) : null)),
            cell(fileCell), cell(dateTime(p.created_at)), cell(p.resolved_at ? dateTime(p.resolved_at) : p.sent_at ? dateTime(p.sent_at) : "–"),
          );
        }),
        { id: "payouts-table", caption: t("console.ops.payouts") },
      ));
    } catch (error) {
      payoutsBox.replaceChildren(errorBox(error, () => loadPayouts(true)));
    }
  }
  view.querySelector("#payout-status").addEventListener("change", () => loadPayouts(true));
  more.addEventListener("click", () => busy(more, () => loadPayouts(false)));
  await loadPayouts(true);
}
