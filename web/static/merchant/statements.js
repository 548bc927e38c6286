// 明細・入金: settlement statements (what the shop is owed per period), each statement's
// lines and CSV, the payout's progress to the bank, and any day's payments as CSV.

import { dateOnly, dateTime, download, h, number, showError, t, tokyoToday } from "/static/js/core.js";
import { $, busy, yenOf } from "./util.js";

const PAYOUT_BADGE = { pending: "badge-warn", sent: "badge-warn", paid: "", failed: "badge-red" };

export function setupStatements(api) {
  const list = $("#statements");
  let loaded = false;
  let cursor = null;
  let selected = null;

  function payoutBadge(s) {
    if (!s.payout) {
      return h("span", { class: "badge badge-grey" }, t(`m.st.status.${s.status}`));
    }
    return h("span", { class: `badge ${PAYOUT_BADGE[s.payout.status] ?? "badge-grey"}` }, t(`m.payout.${s.payout.status}`));
  }

  function period(s) {
    return t("m.st.period", { from: s.period_start ? dateTime(s.period_start) : t("m.st.first"), to: dateTime(s.period_end) });
  }

  function facts(pairs) {
    return h("dl", { class: "facts" }, ...pairs.filter(Boolean).flatMap(([k, v]) => [h("dt", {}, k), h("dd", { class: "num" }, v)]));
  }

  function figures(s) {
    return [
      [t("m.st.payments"), t("m.fig.count_value", { count: number(s.payments) })],
      [t("m.st.gross"), yenOf(s.gross_sales)],
      [t("m.st.refunds"), s.refunds ? `−${yenOf(s.refunds)}` : yenOf(0)],
      [t("m.st.cashback"), yenOf(s.campaign_cashback)],
      s.adjustments ? [t("m.st.adjustments"), yenOf(s.adjustments)] : null,
      [t("m.st.fees"), s.fees ? `−${yenOf(s.fees)}` : yenOf(0)],
    ];
  }

  function item(s) {
    const title = t("m.st.closing", { date: dateOnly(`${s.closing_date}T12:00:00+09:00`) });
    return h("li", { class: "statement", dataset: { settlementId: s.id } },
      h("div", { class: "spread" },
        h("h3", {}, title, " ", h("span", { class: "muted" }, t(`m.schedule.${s.schedule}`))),
        payoutBadge(s)),
      h("p", { class: "hint" }, period(s)),
      h("div", { class: "statement-body" },
        facts(figures(s)),
        h("div", { class: "statement-payout" },
          h("span", { class: "figure-label" }, t("m.st.net_payout")),
          h("span", { class: "figure-sm" }, yenOf(s.net_payout)),
          s.payout?.failure_reason ? h("span", { class: "field-error" }, s.payout.failure_reason) : null,
          h("button", {
            type: "button", class: "btn btn-secondary btn-sm",
            "aria-label": t("m.st.open_for", { title }),
            onclick: () => openDetail(s.id),
          }, t("m.st.open")))));
  }

  // Gross sales settled per month (by closing date), as bars; this month is still being
  // settled, so its bar is hatched and labelled 「（集計中）」.
  const shown = [];
  function drawMonths() {
    const box = $("#statement-months");
    const totals = new Map();
    for (const s of shown) {
      const month = s.closing_date.slice(0, 7);
      totals.set(month, (totals.get(month) ?? 0) + s.gross_sales);
    }
    const current = tokyoToday().slice(0, 7);
    // This month is listed even before its first statement: nothing settled in it yet.
    if (totals.size && !totals.has(current)) totals.set(current, 0);
    const months = [...totals.keys()].sort().slice(-6);
    const top = Math.max(1, ...months.map((m) => totals.get(m)));
    box.replaceChildren(...months.map((month) => {
      const [year, mm] = month.split("-");
      const name = t("m.st.month", { year, month: String(Number(mm)) });
      const partial = month === current;
      return h("li", { class: `month-bar${partial ? " in-progress" : ""}`, dataset: { month, gross: String(totals.get(month)) } },
        h("span", { class: "month-name" }, partial ? t("m.st.month_in_progress", { month: name }) : name),
        h("span", { class: "bar", style: `width: ${Math.round((totals.get(month) / top) * 100)}%` }),
        h("span", { class: "num" }, yenOf(totals.get(month))));
    }));
    $("#statement-months-card").hidden = months.length === 0;
  }

  async function load({ more = false } = {}) {
    const box = $("#statements-error");
    box.hidden = true;
    $("#statements-loading").hidden = more;
    try {
      const page = await api.get(`/api/v1/merchant/settlements${more && cursor ? `?cursor=${cursor}` : ""}`);
      if (!more) {
        list.replaceChildren();
        shown.length = 0;
      }
      list.append(...page.items.map(item));
      shown.push(...page.items);
      drawMonths();
      cursor = page.next_cursor;
      $("#statements-more").hidden = !cursor;
      $("#statements-empty").hidden = list.children.length > 0;
      loaded = true;
    } catch (err) {
      showError(box, err);
    } finally {
      $("#statements-loading").hidden = true;
    }
  }

  async function openDetail(id) {
    const panel = $("#statement-detail");
    const box = $("#statement-detail-error");
    box.hidden = true;
    panel.hidden = false;
    panel.dataset.settlementId = id;
    for (const li of list.children) li.classList.toggle("is-selected", li.dataset.settlementId === String(id));
    $("#statement-detail-title").textContent = t("state.loading");
    $("#statement-detail-body").replaceChildren();
    try {
      const s = await api.get(`/api/v1/merchant/settlements/${id}`);
      selected = s;
      $("#statement-detail-title").textContent = t("m.st.detail_title", { date: dateOnly(`${s.closing_date}T12:00:00+09:00`) });
      const payout = s.payout;
      const lines = s.lines.map((line) => h("tr", {},
        h("td", {}, dateTime(line.created_at)),
        h("td", {}, h("span", { class: `badge ${line.kind === "refund" ? "badge-warn" : "badge-grey"}` }, t(`m.st.kind.${line.kind}`))),
        h("td", { class: "num" }, line.kind === "refund" ? `−${yenOf(line.amount)}` : yenOf(line.amount)),
        h("td", { class: "mono line-id" }, line.kind === "refund" ? line.payment_id : line.id)));
      $("#statement-detail-body").replaceChildren(
        h("p", { class: "hint" }, period(s)),
        facts([
          ...figures(s),
          [t("m.st.net_payout"), yenOf(s.net_payout)],
          [t("m.st.payout_status"), payout ? t(`m.payout.${payout.status}`) : t(`m.st.status.${s.status}`)],
          payout?.sent_at ? [t("m.st.sent_at"), dateTime(payout.sent_at)] : null,
          payout?.resolved_at ? [t("m.st.resolved_at"), dateTime(payout.resolved_at)] : null,
          payout?.failure_reason ? [t("m.st.failure"), payout.failure_reason] : null,
        ]),
        lines.length
          ? h("div", { class: "table-wrap" },
            h("table", {},
              h("caption", { class: "sr-only" }, t("m.st.lines")),
              h("thead", {}, h("tr", {},
                h("th", { scope: "col" }, t("m.st.col.time")),
                h("th", { scope: "col" }, t("m.st.col.kind")),
                h("th", { scope: "col", class: "num" }, t("m.st.col.amount")),
                h("th", { scope: "col" }, t("m.st.col.payment")))),
              h("tbody", {}, ...lines)))
          : h("p", { class: "empty-state" }, t("m.st.no_lines")));
      panel.focus();
    } catch (err) {
      $("#statement-detail-title").textContent = t("m.st.detail");
      showError(box, err);
    }
  }

  $("#statements-more").addEventListener("click", (event) => busy(event.currentTarget, t("state.loading"), () => load({ more: true })));

  $("#statement-csv").addEventListener("click", async (event) => {
    if (!selected) return;
    const s = selected;
    await busy(event.currentTarget, t("m.downloading"), async () => {
      try {
        await download(api, `/api/v1/merchant/settlements/${s.id}/csv`, `machipay-settlement-${s.closing_date}-${s.id}.csv`);
      } catch (err) {
        showError($("#statement-detail-error"), err);
      }
    });
  });

  const dateInput = $("#day-csv-date");
  $("#day-csv-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const box = $("#day-csv-error");
    box.hidden = true;
    const date = dateInput.value;
    if (!/^\d{4}-\d{2}-\d{2}$/.test(date)) {
      dateInput.setAttribute("aria-invalid", "true");
      showError(box, t("m.daycsv.bad_date"));
      dateInput.focus();
      return;
    }
    dateInput.removeAttribute("aria-invalid");
    await busy($("#day-csv"), t("m.downloading"), async () => {
      try {
        await download(api, `/api/v1/merchant/payments.csv?date=${date}`, `machipay-${date}.csv`);
      } catch (err) {
        showError(box, err);
      }
    });
  });

  return {
    shown() {
      if (!dateInput.value) dateInput.value = tokyoToday();
      dateInput.max = tokyoToday();
      if (!loaded) load();
    },
    reset() {
      loaded = false;
      cursor = null;
      selected = null;
      list.replaceChildren();
      $("#statement-detail").hidden = true;
    },
  };
}
