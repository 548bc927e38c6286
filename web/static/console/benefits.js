// Benefits (給付): the ward's points for its residents. Draft (to everyone, by district and
// age, or a CSV list), submit, a second person approves (seeing the money it commits), the
// run's progress, and the report by district under disclosure control.

import { h, t, dateTime, number, yen, toast, showError } from "/static/js/core.js";
import {
  api, state, can, pageHeader, loadingBox, emptyBox, table, cell, field, setFieldError,
  clearFieldErrors, showFormSummary, problemFieldErrors, districtName, tokyoLocalInput, tokyoIso,
  definitionList, kpi, busy, fill,
} from "/static/console/ui.js";

const AGE_BANDS = ["10-19", "20-29", "30-39", "40-49", "50-59", "60-69", "70-79", "80+"];
const POLL_MS = 2000;

export async function render(view, _screen, parts) {
  if (parts[0] === "new") return renderNew(view);
  if (parts[0]) return renderDetail(view, Number(parts[0]));
  return renderList(view);
}

function badge(status) {
  const cls = { draft: "badge-grey", submitted: "badge-warn", approved: "badge-info", running: "badge-info", done: "" }[status] ?? "";
  return h("span", { class: `badge ${cls}`, dataset: { status } }, t(`console.benefit.status.${status}`));
}

function points(n) {
  return n === null || n === undefined ? "–" : `${number(n)} pt`;
}

function ruleText(rule) {
  if (rule.all) return t("console.benefit.to_all");
  if (rule.list) return t("console.benefit.to_list");
  const districts = rule.district_ids?.length ? rule.district_ids.map(districtName).join("、") : t("console.benefit.any_district");
  const ages = rule.age_bands?.length ? rule.age_bands.join("、") : t("console.benefit.any_age");
  return `${districts} / ${ages}`;
}

// -- the list ------------------------------------------------------------------------------

async function renderList(view) {
  const newLink = can.writeCampaigns()
    ? h("a", { class: "btn", href: "#/benefits/new", id: "new-benefit" }, t("console.benefit.new"))
    : null;
  const listBox = h("div", {}, loadingBox());
  fill(view, pageHeader(t("console.nav.benefits"), newLink), h("section", { class: "card" }, listBox));
  const page = await api.get("/api/v1/benefits");
  listBox.replaceChildren(page.items.length
    ? table(
      [t("console.benefit.name"), t("console.benefit.status"), { text: t("console.benefit.recipients"), num: true },
        { text: t("console.benefit.granted"), num: true }, { text: t("console.benefit.budget"), num: true }],
      page.items.map((b) => h("tr", { dataset: { benefitId: b.id } },
        cell(h("a", { href: `#/benefits/${b.id}` }, b.name)), cell(badge(b.status)),
        cell(number(b.recipients), { num: true }), cell(number(b.granted), { num: true }),
        cell(yen(b.budget), { num: true }))),
      { id: "benefits-table", caption: t("console.nav.benefits") },
    )
    : h("p", { class: "empty" }, t("console.benefit.empty")));
}

// -- a new benefit -------------------------------------------------------------------------

function checkboxes(name, items) {
  return h("div", { class: "checks", role: "group" }, items.map(([value, label]) =>
    h("label", { class: "check" }, h("input", { type: "checkbox", name, value }), ` ${label}`)));
}

function renderNew(view) {
  const start = new Date(Date.now() + 5 * 60_000);
  const form = h("form", { id: "benefit-form", novalidate: true },
    h("div", { class: "form-summary alert alert-error", role: "alert", tabindex: "-1", hidden: true }),
    h("div", { class: "grid-2" },
      field({ id: "b-name", label: t("console.benefit.name"), required: true, maxlength: "80", autocomplete: "off", placeholder: t("console.benefit.name_example") }),
      field({ id: "b-purpose", label: t("console.benefit.purpose"), required: true, maxlength: "200", autocomplete: "off", placeholder: t("console.benefit.purpose_example") }),
    ),
    h("div", { class: "grid-3" },
      field({ id: "b-points", label: t("console.benefit.points_per_recipient"), required: true, inputmode: "numeric", value: "5000", suffix: "pt" }),
      field({ id: "b-expiry", label: t("console.benefit.expiry_days"), required: true, inputmode: "numeric", value: "180", suffix: t("console.benefit.days") }),
      field({ id: "b-starts", label: t("console.benefit.starts_at"), required: true, type: "datetime-local", value: tokyoLocalInput(start) }),
    ),
    h("fieldset", { class: "field" },
      h("legend", {}, t("console.benefit.recipients")),
      ...[["all", t("console.benefit.to_all")], ["rule", t("console.benefit.to_rule")], ["list", t("console.benefit.to_list")]].map(([value, label], i) =>
        h("label", { class: "check" }, h("input", { type: "radio", name: "b-mode", value, checked: i === 0 }), ` ${label}`)),
    ),
    h("div", { id: "b-rule", hidden: true },
      h("p", { class: "hint" }, t("console.benefit.rule_hint")),
      h("h3", {}, t("console.benefit.districts")),
      checkboxes("b-district", state.districts.map((d) => [d.id, districtName(d.id)])),
      h("h3", {}, t("console.benefit.age_bands")),
      checkboxes("b-age", AGE_BANDS.map((b) => [b, b])),
    ),
    h("p", { class: "hint", id: "b-list-hint", hidden: true }, t("console.benefit.list_hint")),
    h("div", { class: "form-actions" }, h("button", { type: "submit", class: "btn", id: "create-benefit" }, t("console.benefit.create"))),
  );
  const mode = () => form.querySelector("input[name='b-mode']:checked").value;
  form.addEventListener("change", () => {
    form.querySelector("#b-rule").hidden = mode() !== "rule";
    form.querySelector("#b-list-hint").hidden = mode() !== "list";
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearFieldErrors(form);
    const checked = (name) => [...form.querySelectorAll(`input[name='${name}']:checked`)].map((i) => i.value);
    const recipients = { all: { all: true }, rule: { district_ids: checked("b-district"), age_bands: checked("b-age") }, list: { wallet_ids: [] } }[mode()];
    const body = {
      name: form.querySelector("#b-name").value,
      purpose: form.querySelector("#b-purpose").value,
      points_per_recipient: Number(form.querySelector("#b-points").value.normalize("NFKC").replace(/[,\s]/g, "")),
      points_expiry_days: Number(form.querySelector("#b-expiry").value.normalize("NFKC")),
      starts_at: tokyoIso(form.querySelector("#b-starts").value),
      recipients,
    };
    await busy(form.querySelector("#create-benefit"), async () => {
      try {
        const created = await api.post("/api/v1/benefits", body);
        toast(t("console.benefit.created_toast"));
        location.hash = `#/benefits/${created.id}`;
      } catch (error) {
        const ids = { name: "b-name", purpose: "b-purpose", points_per_recipient: "b-points", points_expiry_days: "b-expiry", starts_at: "b-starts" };
        const messages = [];
        for (const [path, message] of problemFieldErrors(error)) {
          const id = ids[path.split(".")[0]];
          if (id) setFieldError(form, id, message);
          messages.push(message);
        }
        if (!messages.length) { const box = h("div"); showError(box, error); messages.push(box.textContent); }
        showFormSummary(form, messages);
      }
    });
  });
  fill(view, pageHeader(t("console.benefit.new")), h("section", { class: "card" }, form));
}

// -- one benefit ---------------------------------------------------------------------------

async function renderDetail(view, id) {
  fill(view, loadingBox());
  let benefit = await api.get(`/api/v1/benefits/${id}`);
  let timer = null;
  const head = h("div");
  const kpis = h("div", { class: "kpis", id: "benefit-kpis" });
  const progress = h("div", { id: "benefit-progress" });
  const actions = h("div", { class: "row actions", id: "benefit-actions" });
  const actionError = h("div", { id: "action-error", hidden: true });
  const note = h("div", { id: "benefit-approve-note" });
  const uploadCard = h("section", { class: "card", id: "upload-card", hidden: true });
  const reportCard = h("section", { class: "card", id: "report-card", hidden: true });
  const terms = h("div");

  function draw() {
    head.replaceChildren(pageHeader(benefit.name, h("span", { id: "benefit-status" }, badge(benefit.status))));
    kpis.replaceChildren(
      kpi(t("console.benefit.recipients"), number(benefit.recipients), { id: "kpi-recipients" }),
      kpi(t("console.benefit.points_per_recipient"), points(benefit.points_per_recipient)),
      kpi(t("console.benefit.budget"), yen(benefit.budget), { id: "kpi-budget", cls: "kpi-main" }),
      kpi(t("console.benefit.granted"), number(benefit.granted), { id: "kpi-granted" }),
    );
    const share = benefit.recipients ? Math.floor((100 * benefit.granted) / benefit.recipients) : 0;
    progress.replaceChildren(...(["running", "done"].includes(benefit.status)
      ? [h("progress", { max: String(benefit.recipients || 1), value: String(benefit.granted), "aria-label": t("console.benefit.progress") }),
        h("p", { class: "hint", "aria-live": "polite" }, t("console.benefit.progress_text", { granted: number(benefit.granted), recipients: number(benefit.recipients), share }))]
      : []));
    terms.replaceChildren(definitionList([
      [t("console.benefit.purpose"), benefit.purpose],
      [t("console.benefit.recipients"), ruleText(benefit.recipient_rule)],
      [t("console.benefit.expiry_days"), `${number(benefit.points_expiry_days)} ${t("console.benefit.days")}`],
      [t("console.benefit.starts_at"), dateTime(benefit.starts_at)],
      [t("console.benefit.budget_remaining"), yen(benefit.budget_remaining)],
    ]));
    buildActions();
    uploadCard.hidden = !(benefit.recipient_rule.list && ["draft", "submitted"].includes(benefit.status) && can.writeCampaigns());
    reportCard.hidden = !["running", "done"].includes(benefit.status);
  }

  async function act(button, path, done) {
    actionError.hidden = true;
    await busy(button, async () => {
      try {
        benefit = await api.post(`/api/v1/benefits/${id}/${path}`);
        toast(done);
        draw();
      } catch (error) {
        showError(actionError, error);
      }
    });
  }

  function buildActions() {
    actions.replaceChildren();
    note.replaceChildren();
    const s = benefit.status;
    if (s === "draft" && can.writeCampaigns()) {
      const submit = h("button", { type: "button", class: "btn", id: "submit-benefit" }, t("console.benefit.submit"));
      submit.addEventListener("click", () => act(submit, "submit", t("console.benefit.submitted_toast")));
      actions.append(submit);
    }
    if (s === "submitted" && can.approveCampaigns()) {
      const approve = h("button", { type: "button", class: "btn", id: "approve-benefit" }, t("console.benefit.approve"));
      approve.addEventListener("click", () => act(approve, "approve", t("console.benefit.approved_toast")));
      const reject = h("button", { type: "button", class: "btn btn-secondary", id: "reject-benefit" }, t("console.benefit.reject"));
      reject.addEventListener("click", () => act(reject, "reject", t("console.benefit.rejected_toast")));
      note.replaceChildren(
        h("p", { class: "alert alert-warn", id: "approve-commits" },
          t("console.benefit.approve_commits", { budget: yen(benefit.budget), points: number(benefit.points_per_recipient), recipients: number(benefit.recipients) })),
        h("p", { class: "hint" }, t("console.benefit.second_person")));
      actions.append(approve, reject);
    }
    if (s === "submitted" && !can.approveCampaigns()) {
      actions.append(h("p", { class: "hint", id: "waiting-approval" }, t("console.benefit.waiting")));
    }
  }

  function buildUpload() {
    const input = h("input", { type: "file", id: "csv-file", accept: ".csv,text/csv", "aria-describedby": "csv-hint" });
    const result = h("div", { id: "csv-result", "aria-live": "polite" });
    const button = h("button", { type: "button", class: "btn", id: "upload-csv" }, t("console.benefit.upload"));
    button.addEventListener("click", () => busy(button, async () => {
      result.replaceChildren();
      const file = input.files[0];
      if (!file) { result.append(h("p", { class: "alert alert-error" }, t("console.benefit.choose_file"))); return; }
      try {
        const answer = await api.upload(`/api/v1/benefits/${id}/recipients`, await file.text(), "text/csv");
        result.append(h("p", { class: "alert alert-info", id: "csv-accepted" }, t("console.benefit.accepted", { n: number(answer.accepted) })));
        if (answer.errors.length) {
          result.append(table([{ text: t("console.benefit.row"), num: true }, t("console.benefit.problem")],
            answer.errors.map((e) => h("tr", { dataset: { code: e.code } }, cell(number(e.row), { num: true }), cell(e.message))),
            { id: "csv-errors", caption: t("console.benefit.row_errors") }));
        }
        benefit = await api.get(`/api/v1/benefits/${id}`);
        draw();
      } catch (error) {
        showError(result, error);
      }
    }));
    uploadCard.replaceChildren(
      h("h2", {}, t("console.benefit.upload_title")),
      h("p", { class: "hint", id: "csv-hint" }, t("console.benefit.csv_hint")),
      h("div", { class: "row" }, input, button), result);
  }

  async function loadReport() {
    if (reportCard.hidden) return;
    try {
      const report = await api.get(`/api/v1/benefits/${id}/report`);
      const hidden = h("span", { class: "muted" }, t("console.benefit.suppressed"));
      const show = (v, f) => (v === null ? hidden.cloneNode(true) : f(v));
      reportCard.replaceChildren(
        h("h2", {}, t("console.benefit.report")),
        h("p", { class: "hint" }, t("console.benefit.report_hint", { k: report.min_residents })),
        table(
          [t("console.benefit.district"), { text: t("console.benefit.recipients"), num: true }, { text: t("console.benefit.granted_pt"), num: true },
            { text: t("console.benefit.spent"), num: true }, { text: t("console.benefit.expired"), num: true }],
          [...report.rows.map((r) => h("tr", { dataset: { district: r.district_id, suppressed: String(r.suppressed) } },
            cell(districtName(r.district_id)), cell(show(r.recipients, number), { num: true }), cell(show(r.granted, points), { num: true }),
            cell(show(r.spent, points), { num: true }), cell(show(r.expired, points), { num: true }))),
          h("tr", { class: "total" }, cell(h("strong", {}, t("console.benefit.total"))), cell(show(report.total.recipients, number), { num: true }),
            cell(show(report.total.granted, points), { num: true }), cell(show(report.total.spent, points), { num: true }),
            cell(show(report.total.expired, points), { num: true }))],
          { id: "benefit-report", caption: t("console.benefit.report") }),
      );
    } catch (error) {
      showError(reportCard, error);
    }
  }

  async function poll() {
    if (!["submitted", "approved", "running"].includes(benefit.status)) return;
    try {
      const fresh = await api.get(`/api/v1/benefits/${id}`);
      // Redraw only on a change: the approver's buttons must not be replaced under a click.
      if (JSON.stringify(fresh) === JSON.stringify(benefit)) return;
      benefit = fresh;
      draw();
      if (benefit.status === "done") await loadReport();
    } catch { /* the next tick tries again */ }
  }

  draw();
  buildUpload();
  fill(view, head, kpis, progress, h("section", { class: "card" }, terms, note, actionError, actions), uploadCard, reportCard,
    h("p", {}, h("a", { href: "#/benefits" }, t("console.benefit.back"))));
  await loadReport();
  timer = setInterval(poll, POLL_MS);
  return () => clearInterval(timer);
}
