// The residents' app: hash routes (#/home, #/scan, …), each screen a module with
// render(root, app, scope). A scope ends when the person leaves the screen; screens hang
// their clean-up on it (stop the camera, stop polling), even if they are still loading.
import { createApi, describeError, h, t, toast } from "/static/js/core.js";
import * as access from "./access.js";
import * as auth from "./auth.js";
import * as campaigns from "./campaigns.js";
import * as code from "./code.js";
import * as historyScreen from "./history.js";
import * as home from "./home.js";
import * as line from "./line.js";
import * as pay from "./pay.js";
import * as receipt from "./receipt.js";
import * as recovery from "./recovery.js";
import * as scan from "./scan.js";
import * as shops from "./shops.js";
import * as topup from "./topup.js";
import * as transfer from "./transfer.js";

const ROUTES = {
  signin: auth.renderSignIn,
  register: auth.renderRegister,
  forgot: recovery.renderForgot,
  verify: recovery.renderVerify,
  home: home.render,
  scan: scan.render,
  pay: pay.render,
  receipt: receipt.render,
  history: historyScreen.render,
  tx: line.render,
  code: code.render,
  transfer: transfer.render,
  charge: topup.render,
  access: access.render,
  shops: shops.render,
  campaigns: campaigns.render,
};
const PUBLIC = new Set(["signin", "register", "forgot"]);
// Screens for both: the code after registering (not signed in yet), or from home's banner.
const EITHER = new Set(["verify"]);
// Which bottom-navigation tab a screen belongs to.
const TAB_OF = { pay: "scan", receipt: "scan", charge: "home", tx: "history", campaigns: "shops" };

const api = createApi("app");
const view = document.getElementById("view");
const nav = document.getElementById("app-nav");
const signOutButton = document.getElementById("sign-out");
const signOutAllButton = document.getElementById("sign-out-all");

const app = {
  api,
  /** Set by the scan screen for the confirm screen: {payload, resolved}. */
  pendingPayment: null,
  /** Set before going to #/receipt: {payment}. */
  receipt: null,
  /** Set by registration for the verify screen: {phone, password} (this page only). */
  pendingRegistration: null,
  go(route) { location.hash = `#/${route}`; },
};

function makeScope() {
  const leaving = [];
  let left = false;
  return {
    get left() { return left; },
    onLeave(fn) { if (left) fn(); else leaving.push(fn); },
    leave() {
      left = true;
      for (const fn of leaving.splice(0)) {
        try { fn(); } catch { /* a clean-up failing must not block the next screen */ }
      }
    },
  };
}

let scope = null;
let currentRoute = null;
let firstRender = true;

async function show() {
  const asked = location.hash.replace(/^#\/?/, "").split("/")[0] || "home";
  let route = ROUTES[asked] ? asked : "home";
  const signedIn = api.signedIn();
  if (!signedIn && !PUBLIC.has(route) && !EITHER.has(route)) route = "signin";
  if (signedIn && PUBLIC.has(route)) route = "home";
  if (route !== asked) window.history.replaceState(null, "", `#/${route}`);

  scope?.leave();
  scope = makeScope();
  currentRoute = route;
  const mine = scope;
  nav.hidden = !signedIn;
  signOutButton.hidden = !signedIn;
  signOutAllButton.hidden = !signedIn;
  document.body.classList.toggle("has-bottom-nav", signedIn);
  const tab = TAB_OF[route] || route;
  for (const link of nav.querySelectorAll("a[data-route]")) {
    if (link.dataset.route === tab) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  const root = h("div", { class: `screen-root screen-${route}` });
  view.replaceChildren(root);
  try {
    await ROUTES[route](root, app, mine);
  } catch (error) {
    if (!mine.left) root.replaceChildren(failure(error));
  }
  if (mine.left) return;
  const heading = root.querySelector("h1");
  document.title = heading ? `${heading.textContent} — ${t("brand")}` : t("brand");
  // Focus follows navigation (not on first load, where the page's own order is right).
  // A screen that put focus somewhere itself (the amount field) keeps it.
  if (!firstRender && heading && !root.contains(document.activeElement)) heading.focus();
  firstRender = false;
}

function failure(error) {
  return h("section", { class: "card screen" },
    h("h1", { tabindex: "-1" }, t("app.error.screen")),
    h("p", { class: "alert alert-error", role: "alert" }, describeError(error)),
    h("button", { class: "btn", type: "button", onclick: show }, t("action.retry")));
}

async function signOutWith(end) {
  await end();
  app.pendingPayment = null;
  app.receipt = null;
  app.pendingRegistration = null;
  toast(t("app.signed_out"));
  app.go("signin");
}
signOutButton.addEventListener("click", () => signOutWith(api.signOut));
signOutAllButton.addEventListener("click", () => signOutWith(api.signOutEverywhere));

// A session that ended (refresh refused) sends the person back to sign in. A refused
// sign-in raises the same event; there is no session to end then.
window.addEventListener("machipay:signed-out", () => {
  if (PUBLIC.has(currentRoute)) return;
  toast(t("error.session_expired"), { error: true });
  app.go("signin");
});
window.addEventListener("hashchange", show);
window.addEventListener("pagehide", () => scope?.leave());
window.addEventListener("pageshow", (event) => { if (event.persisted) show(); });

if ("serviceWorker" in navigator) {
  navigator.serviceWorker.register("/app/sw.js", { scope: "/app/" }).catch(() => {
    // Without a service worker the app still works online; only the offline page is lost.
  });
}

show();
