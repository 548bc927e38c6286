// The ward console: sign-in, the navigation each role sees, and a hash router over the
// screens (campaigns, benefits, merchants, streets, notices, operations, the help desk).

import { h, t, describeError, showError } from "/static/js/core.js";
import { api, state, loadReference, errorBox } from "/static/console/ui.js";
import * as campaigns from "/static/console/campaigns.js";
import * as benefits from "/static/console/benefits.js";
import * as ward from "/static/console/ward.js";
import * as operations from "/static/console/operations.js";
import * as desk from "/static/console/desk.js";
import * as sms from "/static/console/sms.js";

const SCREENS = {
  campaigns: { label: "console.nav.campaigns", icon: "◎" },
  benefits: { label: "console.nav.benefits", icon: "♦" },
  merchants: { label: "console.nav.merchants", icon: "▣" },
  streets: { label: "console.nav.streets", icon: "≡" },
  notices: { label: "console.nav.notices", icon: "✉" },
  operations: { label: "console.nav.operations", icon: "⚙" },
  desk: { label: "console.nav.desk", icon: "☎" },
  closures: { label: "console.nav.closures", icon: "✔" },
  cashups: { label: "console.nav.cashups", icon: "¥" },
  sms: { label: "console.nav.sms", icon: "✆" },
};
const ROLE_SCREENS = {
  officer: ["campaigns", "benefits", "merchants", "streets", "notices", "cashups"],
  approver: ["campaigns", "benefits", "merchants", "streets", "notices", "closures"],
  operator: ["operations", "campaigns", "benefits", "merchants", "streets", "sms"],
  desk: ["desk", "closures", "cashups"],
};
const OTHER_CLIENT = {
  analyst: "/analytics", resident: "/app", merchant_owner: "/merchant", merchant_staff: "/merchant",
};

const $ = (id) => document.getElementById(id);
let cleanup = null;

function screensOf(role) {
  return ROLE_SCREENS[role] || [];
}

function showOnly(which) {
  $("sign-in-view").hidden = which !== "sign-in";
  $("wrong-role-view").hidden = which !== "wrong-role";
  $("console-shell").hidden = which !== "console";
  const signedIn = which === "console";
  $("who").hidden = !signedIn;
  $("sign-out").hidden = which === "sign-in";
  $("sign-out-all").hidden = which === "sign-in";
}

function showSignIn(message) {
  stopView();
  state.me = null;
  showOnly("sign-in");
  const box = $("sign-in-error");
  if (message) showError(box, message); else box.hidden = true;
  $("username").focus();
}

function showWrongRole(me) {
  showOnly("wrong-role");
  $("wrong-role-text").textContent = t("console.wrong_role.text", { username: me.username, role: t(`console.role.${me.role}`) });
  const target = OTHER_CLIENT[me.role] || "/";
  const link = $("wrong-role-link");
  link.href = target;
  link.textContent = t(`console.wrong_role.go.${me.role}`) || t("console.wrong_role.go");
}

async function enter(me) {
  if (!screensOf(me.role).length) {
    await api.signOut();
    showWrongRole(me);
    return;
  }
  state.me = me;
  $("who-name").textContent = me.username;
  $("who-role").textContent = t(`console.role.${me.role}`);
  $("who-role").dataset.role = me.role;
  $("menu-who-name").textContent = me.username;
  $("menu-who-role").textContent = t(`console.role.${me.role}`);
  showOnly("console");
  buildNav();
  try {
    await loadReference();
  } catch (error) {
    $("view").replaceChildren(errorBox(error, () => enter(me)));
    return;
  }
  route();
}

function buildNav() {
  const list = $("nav-list");
  list.replaceChildren(...screensOf(state.me.role).map((name) =>
    h("li", {}, h("a", { href: `#/${name}`, dataset: { screen: name } },
      h("span", { class: "nav-icon", "aria-hidden": "true" }, SCREENS[name].icon),
      h("span", {}, t(SCREENS[name].label)),
    ))));
}

function setMenu(open) {
  $("menu-toggle").setAttribute("aria-expanded", String(open));
  $("console-nav").classList.toggle("open", open);
}

function stopView() {
  if (typeof cleanup === "function") {
    try { cleanup(); } catch { /* the old view is gone anyway */ }
  }
  cleanup = null;
}

/** #/campaigns/12/report → {screen: "campaigns", parts: ["12", "report"]} */
function parseHash() {
  const parts = location.hash.replace(/^#\/?/, "").split("/").filter(Boolean).map(decodeURIComponent);
  return { screen: parts[0], parts: parts.slice(1) };
}

async function route() {
  if (!state.me) return;
  const allowed = screensOf(state.me.role);
  let { screen, parts } = parseHash();
  if (!allowed.includes(screen)) {
    location.replace(`#/${allowed[0]}`);
    return;
  }
  stopView();
  setMenu(false);
  for (const link of document.querySelectorAll("#nav-list a")) {
    if (link.dataset.screen === screen) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  $("menu-current").textContent = t(SCREENS[screen].label);
  const view = $("view");
  view.replaceChildren();
  view.setAttribute("aria-busy", "true");
  const module = { campaigns, benefits, merchants: ward, streets: ward, notices: ward, operations, desk, closures: desk, cashups: desk, sms }[screen];
  try {
    cleanup = await module.render(view, screen, parts);
  } catch (error) {
    view.replaceChildren(errorBox(error, route));
  } finally {
    view.setAttribute("aria-busy", "false");
  }
  const title = view.querySelector(".view-title");
  document.title = `${title?.textContent || t(SCREENS[screen].label)} | ${t("console.title")}`;
  if (document.activeElement === document.body || !view.contains(document.activeElement)) {
    title?.focus({ preventScroll: true });
  }
}

$("sign-in-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const username = $("username").value.trim();
  const password = $("password").value;
  const errorBoxEl = $("sign-in-error");
  errorBoxEl.hidden = true;
  if (!username || !password) {
    showError(errorBoxEl, t("console.sign_in.missing"));
    (username ? $("password") : $("username")).focus();
    return;
  }
  const button = $("sign-in");
  button.disabled = true;
  try {
    const me = await api.signIn(username, password);
    $("password").value = "";
    await enter(me);
  } catch (error) {
    showError(errorBoxEl, describeError(error));
  } finally {
    button.disabled = false;
  }
});

async function signOutWith(end) {
  stopView();
  await end();
  location.hash = "";
  showSignIn();
}
$("sign-out").addEventListener("click", () => signOutWith(api.signOut));
$("sign-out-all").addEventListener("click", () => signOutWith(api.signOutEverywhere));

$("wrong-role-again").addEventListener("click", () => showSignIn());
$("menu-toggle").addEventListener("click", () => {
  setMenu($("menu-toggle").getAttribute("aria-expanded") !== "true");
});
document.addEventListener("keydown", (event) => {
  if (event.key === "Escape" && $("console-nav").classList.contains("open")) {
    setMenu(false);
    $("menu-toggle").focus();
  }
});
window.addEventListener("hashchange", route);
window.addEventListener("machipay:signed-out", () => showSignIn(t("error.session_expired")));

(async function start() {
  if (!api.signedIn()) { showSignIn(); return; }
  try {
    await enter(await api.me());
  } catch (error) {
    showSignIn(describeError(error));
  }
})();
