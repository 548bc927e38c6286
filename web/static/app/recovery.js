// Proving the phone after registering (the SMS code), and a forgotten password (a code to
// the phone, then a new password). Codes are typed as people type them: full-width digits
// from an IME are fine (nfkcDigits, and the server normalises too).
import { h, nfkcDigits, showError, t, toast } from "/static/js/core.js";
import { signInAsResident } from "./auth.js";
import { busyWhile, clearFieldErrors, errorBox, field, screen, setFieldError } from "./ui.js";

function codeInput(id) {
  return h("input", {
    id, name: "code", inputmode: "numeric", autocomplete: "one-time-code", required: true,
    maxlength: 12, placeholder: "123456", class: "code-input",
  });
}

function sixDigits(input) {
  const code = nfkcDigits(input.value);
  if (/^\d{6}$/.test(code)) return code;
  setFieldError(input, t("app.verify.error.code"));
  input.focus();
  return null;
}

/** After registering (or from the home banner): enter the code the SMS brought. */
export async function renderVerify(root, app, scope) {
  const pending = app.pendingRegistration;
  if (!pending && !app.api.signedIn()) { app.go("signin"); return; }
  const phone = pending ? pending.phone : (await app.api.me()).username;
  if (scope.left) return;
  const code = codeInput("verify-code");
  const problem = errorBox("verify-error");
  const button = h("button", { id: "verify", class: "btn btn-block btn-lg", type: "submit" }, t("app.verify.submit"));
  const resend = h("button", { id: "verify-resend", class: "btn btn-secondary btn-block", type: "button" }, t("app.verify.resend"));
  const form = h("form", { class: "card", novalidate: true, "aria-labelledby": "screen-title" },
    h("p", {}, t("app.verify.lead", { phone: nationalPhone(phone) })),
    problem,
    field(code, "app.verify.code", { hint: t("app.verify.code_hint") }),
    button,
    resend,
    pending ? null : h("p", { class: "auth-switch" }, h("a", { href: "#/home", id: "verify-later" }, t("app.verify.later"))));

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    problem.hidden = true;
    clearFieldErrors(form);
    const typed = sixDigits(code);
    if (!typed) return;
    try {
      await busyWhile(button, "app.verify.busy", async () => {
        await app.api.post("/api/v1/residents/verify", { phone, code: typed }, { auth: false });
        if (pending) await signInAsResident(app, pending.phone, pending.password);
      });
      app.pendingRegistration = null;
      toast(t("app.verify.done"));
      app.go(app.api.signedIn() ? "home" : "signin");
    } catch (error) {
      showError(problem, error);
      code.select();
    }
  });
  resend.addEventListener("click", async () => {
    problem.hidden = true;
    try {
      await busyWhile(resend, "app.verify.resending", () =>
        app.api.post("/api/v1/residents/verify/resend", { phone }, { auth: false }));
      toast(t("app.verify.resent"));
      code.focus();
    } catch (error) {
      showError(problem, error);
    }
  });
  root.append(h("div", { class: "narrow" }, screen("app.verify.title", form)));
  code.focus();
}

function nationalPhone(e164) {
  if (!e164.startsWith("+81")) return e164;
  const national = `0${e164.slice(3)}`;
  return `${national.slice(0, 3)}-${national.slice(3, 7)}-${national.slice(7)}`;
}

/** パスワードを忘れた方: the phone number, then the code and a new password. */
export function renderForgot(root, app) {
  const username = h("input", {
    id: "forgot-phone", name: "username", type: "tel", inputmode: "tel", autocomplete: "username",
    required: true, placeholder: "090-1234-5678",
  });
  const askProblem = errorBox("forgot-error");
  const ask = h("button", { id: "forgot-send", class: "btn btn-block btn-lg", type: "submit" }, t("app.forgot.send"));
  const askForm = h("form", { class: "card", novalidate: true, id: "forgot-ask" },
    h("p", {}, t("app.forgot.lead")),
    askProblem,
    field(username, "app.field.phone"),
    ask);

  const code = codeInput("forgot-code");
  const password = h("input", {
    id: "forgot-password", name: "new_password", type: "password", autocomplete: "new-password",
    required: true, minlength: 10,
  });
  const setProblem = errorBox("forgot-set-error");
  const set = h("button", { id: "forgot-set", class: "btn btn-block btn-lg", type: "submit" }, t("app.forgot.set"));
  const setForm = h("form", { class: "card", novalidate: true, id: "forgot-confirm", hidden: true },
    h("p", { id: "forgot-sent" }, t("app.forgot.sent")),
    setProblem,
    field(code, "app.verify.code", { hint: t("app.verify.code_hint") }),
    field(password, "app.forgot.new_password", { hint: t("app.register.password_hint") }),
    set);

  askForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    askProblem.hidden = true;
    clearFieldErrors(askForm);
    if (!username.value.trim()) { setFieldError(username, t("app.field.required")); username.focus(); return; }
    try {
      await busyWhile(ask, "app.forgot.sending", () =>
        app.api.post("/api/v1/auth/password-reset", { username: nfkcDigits(username.value) }, { auth: false }));
      // The answer is the same whether or not the number is registered: say so.
      username.readOnly = true;
      ask.hidden = true;
      setForm.hidden = false;
      code.focus();
    } catch (error) {
      showError(askProblem, error);
    }
  });
  setForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    setProblem.hidden = true;
    clearFieldErrors(setForm);
    const typed = sixDigits(code);
    if (!typed) return;
    if (password.value.length < 10) { setFieldError(password, t("app.register.error.password")); password.focus(); return; }
    try {
      await busyWhile(set, "app.forgot.setting", () =>
        app.api.post("/api/v1/auth/password-reset/confirm",
          { username: nfkcDigits(username.value), code: typed, new_password: password.value }, { auth: false }));
      toast(t("app.forgot.done"));
      app.go("signin");
    } catch (error) {
      if (error.problem?.field === "new_password") setFieldError(password, t("app.register.error.password"));
      showError(setProblem, error);
    }
  });

  root.append(h("div", { class: "narrow" },
    screen("app.forgot.title", askForm, setForm,
      h("p", { class: "auth-switch" }, h("a", { href: "#/signin" }, t("app.forgot.back"))))));
}
