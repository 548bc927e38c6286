// パスワードを忘れた方 on the sign-in card: a code to the owner's phone (given when the shop
// applied), then a new password. Staff ask their owner (the staff tab); the answer is the
// same whether or not the login exists.
import { showError, t, toast } from "/static/js/core.js";
import { $ } from "./util.js";

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
