// The owner's staff tab: each member of staff, and a new password for one who forgot
// theirs (staff cannot reset by SMS: the owner vouches for them). Their sessions end.
import { h, showError, t, toast } from "/static/js/core.js";
import { $ } from "./util.js";

export function setupStaff(api) {
  const list = $("#staff-list");
  const box = $("#staff-error");

  function row(member) {
    const input = h("input", {
      id: `staff-password-${member.id}`, type: "password", autocomplete: "new-password",
      minlength: 10, required: true, "aria-label": t("m.staff.new_password_for", { name: member.username }),
    });
    const button = h("button", { type: "submit", class: "btn btn-secondary btn-sm" }, t("m.staff.set"));
    const form = h("form", { class: "staff-form", novalidate: true, "data-staff": member.username }, input, button);
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      box.hidden = true;
      if (input.value.length < 10) {
        input.setAttribute("aria-invalid", "true");
        showError(box, t("m.staff.too_short"));
        input.focus();
        return;
      }
      button.disabled = true;
      try {
        await api.post(`/api/v1/merchant/staff/${member.id}/password`, { new_password: input.value });
        input.value = "";
        input.removeAttribute("aria-invalid");
        toast(t("m.staff.done", { name: member.username }));
      } catch (error) {
        showError(box, error);
      } finally {
        button.disabled = false;
      }
    });
    return h("li", { class: "staff-row" },
      h("span", { class: "staff-name" }, member.username),
      member.status === "active" ? null : h("span", { class: "badge badge-grey" }, member.status),
      form);
  }

  return {
    async shown() {
      box.hidden = true;
      try {
        const staff = await api.get("/api/v1/merchant/staff");
        list.replaceChildren(...staff.map(row));
        $("#staff-empty").hidden = staff.length > 0;
      } catch (error) {
        showError(box, error);
      }
    },
    reset() { list.replaceChildren(); },
  };
}

/** パスワードを忘れた方 on the sign-in card: a code to the owner's phone, then a new password. */
export function setupForgot(api) {
  const askForm = $("#forgot-form");
  const setForm = $("#forgot-confirm-form");
  const box = $("#forgot-error");
  askForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    box.hidden = true;
    const username = $("#forgot-username").value.trim();
    if (!username) { $("#forgot-username").focus(); return; }
    try {
      await api.post("/api/v1/auth/password-reset", { username }, { auth: false });
      $("#forgot-username").readOnly = true;
      $("#forgot-send").hidden = true;
      setForm.hidden = false;
      $("#forgot-code").focus();
    } catch (error) {
      showError(box, error);
    }
  });
  setForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    box.hidden = true;
    try {
      await api.post("/api/v1/auth/password-reset/confirm", {
        username: $("#forgot-username").value.trim(),
        code: $("#forgot-code").value,
        new_password: $("#forgot-password").value,
      }, { auth: false });
      toast(t("m.forgot.done"));
      $("#forgot").open = false;
      $("#username").value = $("#forgot-username").value.trim();
      $("#password").focus();
    } catch (error) {
      showError(box, error);
    }
  });
}
