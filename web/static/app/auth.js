// Signing in (phone number + password) and registering a new resident.
import { ApiError, describeError, h, lang, nfkcDigits, showError, t, toast, wholeNumber } from "/static/js/core.js";
import { busyWhile, clearFieldErrors, errorBox, field, screen, setFieldError } from "./ui.js";

function brandHeader() {
  return h("div", { class: "auth-hero" },
    h("img", { src: "/static/img/icon.svg", alt: "", width: 56, height: 56 }),
    h("p", { class: "lead" }, t("brand.tagline")));
}

/** Sign in; an account that is not a resident's is signed out again with a clear message. */
export async function signInAsResident(app, username, password) {
  const me = await app.api.signIn(username, password);
  if (me.role !== "resident") {
    await app.api.signOut();
    return false;
  }
  return true;
}

export function renderSignIn(root, app) {
  const username = h("input", {
    id: "username", name: "username", type: "tel", inputmode: "tel", autocomplete: "username",
    required: true, placeholder: "090-1234-5678",
  });
  const password = h("input", {
    id: "password", name: "password", type: "password", autocomplete: "current-password", required: true,
  });
  const problem = errorBox("sign-in-error");
  const button = h("button", { id: "sign-in", class: "btn btn-block btn-lg", type: "submit" }, t("action.sign_in"));
  const form = h("form", { class: "card", novalidate: true, "aria-labelledby": "screen-title" },
    problem,
    field(username, "app.field.phone"),
    field(password, "field.password"),
    button);

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    problem.hidden = true;
    clearFieldErrors(form);
    let missing = false;
    for (const input of [username, password]) {
      if (!input.value.trim()) {
        setFieldError(input, t("app.field.required"));
        missing = true;
      }
    }
    if (missing) { form.querySelector("[aria-invalid]").focus(); return; }
    try {
      const ok = await busyWhile(button, "app.signing_in", () => signInAsResident(app, username.value.trim(), password.value));
      if (!ok) { showError(problem, t("app.error.not_resident")); return; }
      app.go("home");
    } catch (error) {
      showError(problem, error);
      password.select();
    }
  });

  root.append(h("div", { class: "narrow" },
    brandHeader(),
    screen("app.signin.title", form,
      h("p", { class: "auth-switch" },
        h("a", { href: "#/forgot", id: "go-forgot" }, t("app.forgot.link"))),
      h("p", { class: "auth-switch" }, t("app.signin.no_account"), " ",
        h("a", { href: "#/register", id: "go-register" }, t("app.register.link"))))));
}

const REGISTER_FIELDS = { phone: "reg-phone", password: "reg-password", display_name: "reg-name", birth_year: "reg-birth-year", district: "reg-district" };

/** Which input a refusal is about: the problem's `field`, or the first schema error's pointer. */
function fieldOf(error) {
  if (!(error instanceof ApiError)) return null;
  if (error.slug === "conflict") return "phone";
  if (error.problem.field) return error.problem.field;
  const pointer = error.problem.errors?.[0]?.pointer || "";
  return pointer.split("/")[2] || null;
}

export async function renderRegister(root, app, scope) {
  const thisYear = Number(new Date().toLocaleDateString("en-CA", { timeZone: "Asia/Tokyo" }).slice(0, 4));
  const inputs = {
    phone: h("input", { id: REGISTER_FIELDS.phone, type: "tel", inputmode: "tel", autocomplete: "tel-national", required: true, placeholder: "090-1234-5678" }),
    password: h("input", { id: REGISTER_FIELDS.password, type: "password", autocomplete: "new-password", required: true, minlength: 10 }),
    display_name: h("input", { id: REGISTER_FIELDS.display_name, autocomplete: "nickname", required: true, maxlength: 40 }),
    birth_year: h("input", { id: REGISTER_FIELDS.birth_year, inputmode: "numeric", autocomplete: "bday-year", required: true, placeholder: "1985", maxlength: 4 }),
    district: h("select", { id: REGISTER_FIELDS.district, required: true, disabled: true },
      h("option", { value: "" }, t("state.loading"))),
  };
  const problem = errorBox("register-error");
  const button = h("button", { id: "register", class: "btn btn-block btn-lg", type: "submit" }, t("app.register.submit"));
  const form = h("form", { class: "card", novalidate: true, "aria-labelledby": "screen-title" },
    problem,
    field(inputs.phone, "app.field.phone", { hint: t("app.register.phone_hint") }),
    field(inputs.password, "field.password", { hint: t("app.register.password_hint") }),
    field(inputs.display_name, "app.field.display_name", { hint: t("app.register.name_hint") }),
    field(inputs.birth_year, "app.field.birth_year", { hint: t("app.register.birth_year_hint") }),
    field(inputs.district, "app.field.district", { hint: t("app.register.district_hint") }),
    button);

  root.append(h("div", { class: "narrow" },
    brandHeader(),
    screen("app.register.title", h("p", { class: "muted" }, t("app.register.lead")), form,
      h("p", { class: "auth-switch" }, t("app.register.have_account"), " ",
        h("a", { href: "#/signin" }, t("action.sign_in"))))));

  function check() {
    clearFieldErrors(form);
    const problems = {};
    for (const [name, input] of Object.entries(inputs)) {
      if (!input.value.trim()) problems[name] = t("app.field.required");
    }
    if (!problems.password && inputs.password.value.length < 10) problems.password = t("app.register.error.password");
    const year = wholeNumber(inputs.birth_year.value);
    if (!problems.birth_year && !(Number.isInteger(year) && year >= 1900 && year <= thisYear)) {
      problems.birth_year = t("app.register.error.birth_year", { max: thisYear });
    }
    for (const [name, message] of Object.entries(problems)) setFieldError(inputs[name], message);
    const first = Object.keys(inputs).find((name) => problems[name]);
    if (first) inputs[first].focus();
    return !first;
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    problem.hidden = true;
    if (!check()) return;
    const body = {
      phone: nfkcDigits(inputs.phone.value),
      password: inputs.password.value,
      display_name: inputs.display_name.value.trim(),
      birth_year: wholeNumber(inputs.birth_year.value),
      district: inputs.district.value,
    };
    try {
      await busyWhile(button, "app.register.busy", () =>
        app.api.post("/api/v1/residents", body, { auth: false }));
      // Sign-in waits for the code: a number that was already registered answers the same
      // and gets no code, and signing in at once would tell the two apart.
      app.pendingRegistration = { phone: body.phone, password: body.password };
      toast(t("app.register.done"));
      app.go("verify");
    } catch (error) {
      const name = fieldOf(error);
      if (name && inputs[name]) {
        const key = `app.register.error.${error.slug === "conflict" ? "phone_taken" : name}`;
        setFieldError(inputs[name], t(key, { max: thisYear }));
        inputs[name].focus();
      }
      showError(problem, name && inputs[name] ? t("problem.validation-error") : describeError(error));
    }
  });

  try {
    const districts = await app.api.get("/api/v1/districts", { auth: false });
    if (scope.left) return;
    inputs.district.replaceChildren(
      h("option", { value: "" }, t("app.register.district_choose")),
      ...districts.map((d) => h("option", { value: d.id }, lang === "en" ? d.name_en || d.name : d.name)));
    inputs.district.disabled = false;
  } catch (error) {
    inputs.district.replaceChildren(h("option", { value: "" }, t("app.register.district_failed")));
    showError(problem, error);
  }
}
