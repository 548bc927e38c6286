// チャージ: how to add money. The wallet's own transfer account (振込専用口座), its konbini
// number (and its QR for the till's scanner), the ward counter of the resident's district.
import { h, t, toast, yen } from "/static/js/core.js";
import { renderQr } from "/static/js/qr.js";
import { screen } from "./ui.js";

const ACCOUNT_TYPES = { ordinary: "app.charge.type.ordinary", current: "app.charge.type.current" };

async function copy(text, what) {
  try {
    await navigator.clipboard.writeText(text);
    toast(t("app.charge.copied", { what }));
  } catch {
    toast(t("app.charge.copy_failed"), { error: true });
  }
}

function copyButton(id, text, what) {
  return h("button", {
    id, class: "btn btn-secondary btn-sm", type: "button",
    "aria-label": t("app.charge.copy_what", { what }), onclick: () => copy(text, what),
  }, t("app.charge.copy"));
}

/** 1234567890 → "1234 5678 9012": easier to read out at a till. */
function grouped(digits) {
  return digits.replace(/(\d{4})(?=\d)/g, "$1 ");
}

function facts(rows) {
  return h("dl", { class: "charge-facts" }, rows.map(([label, value, id]) =>
    h("div", {}, h("dt", {}, t(label)), h("dd", { id }, value))));
}

function bankCard(funding) {
  const bank = funding.bank;
  return h("section", { class: "card charge-card", "aria-labelledby": "charge-bank-title" },
    h("h2", { id: "charge-bank-title" }, h("span", { class: "charge-icon", "aria-hidden": "true" }, "銀"), t("app.charge.bank.title")),
    h("p", { class: "muted" }, t("app.charge.bank.lead")),
    facts([
      ["app.charge.bank.bank", `${bank.bank_name}(${bank.bank_code})`, "charge-bank-name"],
      ["app.charge.bank.branch", `${bank.branch_name}(${bank.branch_code})`, "charge-branch"],
      ["app.charge.bank.type", t(ACCOUNT_TYPES[bank.account_type] || ACCOUNT_TYPES.ordinary), "charge-type"],
      ["app.charge.bank.name", bank.account_name_kana, "charge-account-name"],
    ]),
    h("div", { class: "charge-number-row" },
      h("div", {},
        h("span", { class: "charge-number-label" }, t("app.charge.bank.number")),
        h("code", { id: "charge-account-number", class: "charge-number" }, bank.account_number)),
      copyButton("copy-account", bank.account_number, t("app.charge.bank.number"))),
    h("p", { class: "hint" }, t("app.charge.bank.note")));
}

function konbiniCard(funding) {
  const qr = h("div", { class: "qr-box charge-qr", id: "charge-konbini-qr" });
  renderQr(qr, funding.konbini_number, { label: t("app.charge.konbini.qr_label"), cellSize: 4 });
  return h("section", { class: "card charge-card", "aria-labelledby": "charge-konbini-title" },
    h("h2", { id: "charge-konbini-title" }, h("span", { class: "charge-icon", "aria-hidden": "true" }, "コ"), t("app.charge.konbini.title")),
    h("p", { class: "muted" }, t("app.charge.konbini.lead")),
    h("div", { class: "charge-number-row" },
      h("div", {},
        h("span", { class: "charge-number-label" }, t("app.charge.konbini.number")),
        h("code", { id: "charge-konbini-number", class: "charge-number" }, grouped(funding.konbini_number))),
      copyButton("copy-konbini", funding.konbini_number, t("app.charge.konbini.number"))),
    h("div", { class: "charge-konbini-body" }, qr,
      h("ol", { class: "charge-steps" },
        h("li", {}, t("app.charge.konbini.step1")),
        h("li", {}, t("app.charge.konbini.step2")),
        h("li", {}, t("app.charge.konbini.step3")))));
}

function counterCard(funding) {
  const counter = funding.counter;
  const body = counter
    ? [
      h("p", { class: "charge-counter-name", id: "charge-counter-name" }, counter.name),
      h("p", { class: "charge-counter-address", id: "charge-counter-address" }, counter.address),
      h("p", { class: "hint" }, counter.hours),
      h("p", { class: "muted" }, t("app.charge.counter.lead")),
    ]
    : [h("p", { class: "muted" }, t("app.charge.counter.none"))];
  return h("section", { class: "card charge-card", "aria-labelledby": "charge-counter-title" },
    h("h2", { id: "charge-counter-title" }, h("span", { class: "charge-icon", "aria-hidden": "true" }, "区"), t("app.charge.counter.title")),
    ...body);
}

function atmCard(funding) {
  return h("section", { class: "card charge-card", "aria-labelledby": "charge-atm-title" },
    h("h2", { id: "charge-atm-title" }, h("span", { class: "charge-icon", "aria-hidden": "true" }, "A"), t("app.charge.atm.title")),
    h("p", { class: "muted" }, t("app.charge.atm.lead")),
    h("div", { class: "charge-number-row" },
      h("div", {},
        h("span", { class: "charge-number-label" }, t("app.topup.wallet_id")),
        h("code", { id: "charge-wallet-id", class: "charge-number charge-number-sm" }, funding.wallet_id)),
      copyButton("copy-wallet", funding.wallet_id, t("app.topup.wallet_id"))));
}

export async function render(root, app, scope) {
  const funding = await app.api.get("/api/v1/wallet/funding");
  if (scope.left) return;
  root.append(screen("app.charge.title",
    h("p", { class: "charge-room", id: "charge-room" },
      t("app.charge.room", { room: yen(funding.room), cap: yen(funding.balance_cap) })),
    h("div", { class: "charge-grid" },
      bankCard(funding), konbiniCard(funding), counterCard(funding), atmCard(funding)),
    h("p", { class: "hint charge-note" }, t("app.charge.note"))));
}
