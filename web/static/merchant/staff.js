// スタッフ管理 (owners only): the shop's staff logins, each one's refund limit, adding and
// removing them. A removed login is signed out everywhere at once by the server.

import { dateOnly, h, showError, t, toast } from "/static/js/core.js";
import { $, amountOf, busy, formatAmountField, yenOf } from "./util.js";

export function setupStaff(api) {
  let loaded = false;
  let defaultLimit = null;
  formatAmountField($("#staff-limit"));

  function limitLine(member) {
    return member.refund_limit_is_default
      ? t("m.staff.limit_default", { amount: yenOf(member.refund_limit) })
      : t("m.staff.limit_own", { amount: yenOf(member.refund_limit) });
  }

  function row(member) {
    const input = h("input", {
      id: `staff-limit-${member.id}`, class: "amount-input staff-limit-input", inputmode: "numeric",
      autocomplete: "off", value: member.refund_limit_is_default ? "" : member.refund_limit.toLocaleString("ja-JP"),
      placeholder: defaultLimit === null ? "" : defaultLimit.toLocaleString("ja-JP"),
    });
    formatAmountField(input);
    const problem = h("div", { hidden: true });
    const save = h("button", { type: "button", class: "btn btn-secondary btn-sm" }, t("m.staff.save"));
    const remove = h("button", { type: "button", class: "btn btn-danger btn-sm", "aria-label": t("m.staff.remove_for", { name: member.username }) }, t("m.staff.remove"));
    save.addEventListener("click", () => busy(save, null, async () => {
      problem.hidden = true;
      const typed = input.value.trim();
      const value = typed === "" ? null : amountOf(typed);
      if (typed !== "" && value === null) { showError(problem, t("m.staff.limit_invalid")); return; }
      try {
        const updated = await api.send("PATCH", `/api/v1/merchant/staff/${member.id}`, { refund_limit: value });
        toast(t("m.staff.saved", { name: updated.username }));
        await load();
      } catch (error) {
        showError(problem, error);
      }
    }));
    remove.addEventListener("click", () => busy(remove, null, async () => {
      if (!window.confirm(t("m.staff.remove_confirm", { name: member.username }))) return;
      problem.hidden = true;
      try {
        await api.send("DELETE", `/api/v1/merchant/staff/${member.id}`);
        toast(t("m.staff.removed", { name: member.username }));
        await load();
      } catch (error) {
        showError(problem, error);
      }
    }));
    return h("li", { class: "staff-row", dataset: { id: member.id, username: member.username } },
      h("div", { class: "staff-who" },
        h("span", { class: "staff-name mono" }, member.username),
        h("span", { class: "hint staff-limit-line" }, limitLine(member)),
        h("span", { class: "hint" }, t("m.staff.added", { date: dateOnly(member.added_at) }))),
      h("div", { class: "staff-controls" },
        h("label", { for: input.id, class: "visually-hidden" }, t("m.staff.limit_for", { name: member.username })),
        h("div", { class: "yen-input yen-input-sm" }, h("span", { "aria-hidden": "true" }, "¥"), input),
        save, remove),
      passwordReset(member, problem),
      problem);
  }

  /** A new password for a member of staff who forgot theirs (they cannot reset by SMS:
   * the owner vouches for them); their sessions end at once. */
  function passwordReset(member, problem) {
    const input = h("input", {
      id: `staff-password-${member.id}`, type: "password", autocomplete: "new-password",
      minlength: 10, maxlength: 256, required: true,
    });
    const set = h("button", { type: "submit", class: "btn btn-secondary btn-sm" }, t("m.staff.set_password"));
    const form = h("form", { class: "staff-password-form", novalidate: true, dataset: { staff: member.username } },
      h("label", { for: input.id, class: "visually-hidden" }, t("m.staff.new_password_for", { name: member.username })),
      input, set);
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      problem.hidden = true;
      if (input.value.length < 10) {
        input.setAttribute("aria-invalid", "true");
        showError(problem, t("m.staff.password_short"));
        input.focus();
        return;
      }
      busy(set, null, async () => {
        try {
          await api.post(`/api/v1/merchant/staff/${member.id}/password`, { new_password: input.value });
          input.value = "";
          input.removeAttribute("aria-invalid");
          toast(t("m.staff.password_set", { name: member.username }));
        } catch (error) {
          showError(problem, error);
        }
      });
    });
    return h("details", { class: "staff-password" },
      h("summary", {}, t("m.staff.reset_password")), form);
  }

  async function load() {
    const box = $("#staff-error");
    box.hidden = true;
    try {
      const answer = await api.get("/api/v1/merchant/staff");
      defaultLimit = answer.default_refund_limit;
      $("#staff-limit").placeholder = defaultLimit.toLocaleString("ja-JP");
      $("#staff-limit-hint").textContent = t("m.staff.limit.hint", { amount: yenOf(defaultLimit) });
      $("#staff-list").replaceChildren(...answer.items.map(row));
      $("#staff-empty").hidden = answer.items.length > 0;
      loaded = true;
    } catch (error) {
      showError(box, error);
    } finally {
      $("#staff-loading").hidden = true;
    }
  }

  $("#staff-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const box = $("#staff-form-error");
    box.hidden = true;
    const username = $("#staff-username");
    const password = $("#staff-password");
    const limitText = $("#staff-limit").value.trim();
    const limit = limitText === "" ? null : amountOf(limitText);
    username.setAttribute("aria-invalid", String(!username.value.trim()));
    password.setAttribute("aria-invalid", String(!password.value));
    if (!username.value.trim() || !password.value) {
      showError(box, t("m.staff.missing"));
      return;
    }
    if (limitText !== "" && limit === null) {
      showError(box, t("m.staff.limit_invalid"));
      return;
    }
    await busy($("#staff-add"), t("m.staff.adding"), async () => {
      try {
        const body = { username: username.value.trim(), password: password.value };
        if (limit !== null) body.refund_limit = limit;
        const added = await api.post("/api/v1/merchant/staff", body);
        toast(t("m.staff.added_toast", { name: added.username }));
        $("#staff-form").reset();
        await load();
      } catch (error) {
        showError(box, error);
      }
    });
  });

  return {
    shown() { if (!loaded) load(); },
    reset() {
      loaded = false;
      $("#staff-list").replaceChildren();
      $("#staff-loading").hidden = false;
      $("#staff-empty").hidden = true;
    },
  };
}
