// The SMS sink (operators; only while MACHIPAY_SMS_BACKEND=sink, the demo's default): the
// texts the platform would have sent, newest first, so a demo's codes can be read here.
import { dateTime, h, nfkcDigits, t } from "/static/js/core.js";
import { api, cell, emptyBox, errorBox, field, loadingBox, pageHeader, table } from "/static/console/ui.js";

export async function render(view) {
  const form = h("form", { id: "sms-form", class: "card", novalidate: true },
    field({ id: "sms-to", label: t("console.sms.to"), type: "tel", inputmode: "tel", hint: t("console.sms.to_hint"), placeholder: "090-1234-5678" }),
    h("div", { class: "form-actions" }, h("button", { type: "submit", class: "btn", id: "sms-show" }, t("console.sms.show"))));
  const results = h("div", { id: "sms-results", "aria-live": "polite" });
  view.append(pageHeader(t("console.sms.title")), h("p", { class: "muted" }, t("console.sms.lead")), form, results);

  async function load() {
    results.replaceChildren(loadingBox());
    const to = nfkcDigits(form.querySelector("#sms-to").value);
    try {
      const messages = await api.get(`/api/v1/ops/sms${to ? `?to=${encodeURIComponent(to)}` : ""}`);
      results.replaceChildren(messages.length
        ? table([t("console.sms.sent_at"), t("console.sms.to"), t("console.sms.text")],
          messages.map((m) => h("tr", {}, cell(dateTime(m.sent_at)), cell(m.to), cell(m.text, { cls: "sms-text" }))),
          { caption: t("console.sms.title"), id: "sms-table" })
        : emptyBox(t("console.sms.empty")));
    } catch (error) {
      results.replaceChildren(error.status === 404 ? emptyBox(t("console.sms.no_sink")) : errorBox(error, load));
    }
  }
  form.addEventListener("submit", (event) => { event.preventDefault(); load(); });
  await load();
}
