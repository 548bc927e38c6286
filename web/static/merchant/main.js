// The shop's dashboard at the till: sign in, the shop's header, the tabs, and the live
// stream of payments that every tab listens to (the list, the figures, a waiting charge).

import { createApi, describeError, h, showError, streamEvents, t, toast } from "/static/js/core.js";
import { setupCharge } from "./charge.js";
import { setupCode } from "./code.js";
import { setupSound } from "./sound.js";
import { setupForgot } from "./forgot.js";
import { setupStaff } from "./staff.js";
import { setupStatements } from "./statements.js";
import { setupSticker } from "./sticker.js";
import { setupToday } from "./today.js";
import { $, yenOf } from "./util.js";

const MERCHANT_ROLES = new Set(["merchant_owner", "merchant_staff"]);
const ALL_TABS = ["today", "charge", "code", "sticker", "statements", "staff"];
const OWNER_ONLY = new Set(["staff"]);
// The tabs of the signed-in role: staff do not manage staff (the API refuses them too).
let TABS = ALL_TABS.filter((tab) => !OWNER_ONLY.has(tab));
const STATUS_BADGE = { active: "", pending: "badge-warn", suspended: "badge-red", rejected: "badge-grey" };

const api = createApi("merchant");
const sound = setupSound($("#sound-toggle"));
const today = setupToday(api, { onDay: (report) => charge.onDay(report) });
const charge = setupCharge(api, { knownPayments: () => today.knownIds() });
const code = setupCode(api);
const sticker = setupSticker(api);
const statements = setupStatements(api);
const staff = setupStaff(api);
const panels = { today, charge, code, sticker, statements, staff };
setupForgot(api);

let stream = null;
let shop = null;

// -- Sign in and out -------------------------------------------------------------------

function show(view) {
  $("#boot").hidden = true;
  $("#sign-in-view").hidden = view !== "sign-in";
  $("#dashboard").hidden = view !== "dashboard";
  $("#sign-out").hidden = view !== "dashboard";
  $("#sign-out-all").hidden = view !== "dashboard";
  document.body.classList.toggle("merchant-signed-in", view === "dashboard");
}

function showSignIn(message) {
  stream?.stop();
  stream = null;
  shop = null;
  Object.values(panels).forEach((panel) => panel.reset?.());
  show("sign-in");
  const box = $("#sign-in-error");
  if (message) showError(box, message);
  else box.hidden = true;
  $("#password").value = "";
  $("#username").focus();
}

$("#sign-in-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const username = $("#username").value.trim();
  const password = $("#password").value;
  const box = $("#sign-in-error");
  box.hidden = true;
  $("#username").setAttribute("aria-invalid", String(!username));
  $("#password").setAttribute("aria-invalid", String(!password));
  if (!username || !password) {
    showError(box, t("m.sign_in.missing"));
    (!username ? $("#username") : $("#password")).focus();
    return;
  }
  const button = $("#sign-in");
  button.disabled = true;
  button.textContent = t("m.sign_in.busy");
  try {
    const me = await api.signIn(username, password);
    if (!MERCHANT_ROLES.has(me.role)) {
      await api.signOut();
      showError(box, t("m.error.not_merchant"));
      return;
    }
    await enter(me);
  } catch (error) {
    showError(box, error);
  } finally {
    button.disabled = false;
    button.textContent = t("action.sign_in");
  }
});

async function signOutWith(end) {
  await end();
  showSignIn();
  toast(t("m.signed_out"));
}
$("#sign-out").addEventListener("click", () => signOutWith(api.signOut));
$("#sign-out-all").addEventListener("click", () => signOutWith(api.signOutEverywhere));

window.addEventListener("machipay:signed-out", () => {
  if (!$("#dashboard").hidden) showSignIn(t("error.session_expired"));
});

// -- The shop --------------------------------------------------------------------------

async function loadShop() {
  const alert = $("#shop-alert");
  alert.hidden = true;
  try {
    shop = await api.get("/api/v1/merchant");
  } catch (error) {
    if (error.status === 401) throw error;
    shop = null;
    $("#shop-name").textContent = t("m.shop.unknown");
    $("#shop-street").textContent = "";
    $("#shop-status").hidden = true;
    showError(alert, error);
    return;
  }
  $("#shop-name").textContent = shop.name;
  $("#shop-street").textContent = shop.shopping_street || t("street.none");
  const badge = $("#shop-status");
  badge.textContent = t(`m.shop.status.${shop.status}`);
  badge.className = `badge ${STATUS_BADGE[shop.status] ?? "badge-grey"}`;
  badge.hidden = false;
  if (shop.status === "suspended" && shop.suspension_reason) {
    // The ward's own words: why it stopped this shop (recorded when it suspended it).
    showError(alert, `${t("m.shop.not_active")} ${t("m.shop.suspension_reason", { reason: shop.suspension_reason })}`);
  } else if (shop.status !== "active") {
    showError(alert, t("m.shop.not_active"));
  }
  // An applicant not yet (or never) approved: the status page says where it stands and why.
  if (shop.status === "pending" || shop.status === "rejected") {
    alert.append(" ", h("a", { href: "/merchant/apply/status", id: "shop-application-status" }, t("m.apply.status")));
  }
  sticker.setShop(shop);
}

function tabsFor(role) {
  TABS = ALL_TABS.filter((tab) => role === "merchant_owner" || !OWNER_ONLY.has(tab));
  for (const tab of ALL_TABS) $(`#tab-${tab}`).hidden = !TABS.includes(tab);
}

async function enter(me) {
  tabsFor(me.role);
  show("dashboard");
  $("#shop-name").textContent = t("state.loading");
  try {
    await loadShop();
  } catch (error) {
    showSignIn(describeError(error));
    return;
  }
  connect();
  selectTab(tabFromHash(), { focus: false });
  await today.load();
}

// -- Live events -----------------------------------------------------------------------

function setLive(state) {
  const box = $("#live-state");
  box.dataset.state = state;
  $("#live-state-text").textContent = t(`m.live.${state}`);
}

/** Open the stream; `resumed` when a dropped line comes back. */
function connect({ resumed = false } = {}) {
  stream?.stop();
  setLive(resumed ? "reconnecting" : "connecting");
  stream = streamEvents(api, "/api/v1/merchant/events", onEvent, {
    onStatus(status) {
      if (status === "open") {
        setLive("open");
        // Whatever was paid before the stream was listening (or while the line was
        // down) is in no event: fetch the day again once it listens.
        today.refreshSoon(0);
      } else if (status === "reconnecting") {
        setLive("reconnecting");
      } else if (status === "signed-out") {
        showSignIn(t("error.session_expired"));
      }
    },
  });
}

// A dropped Wi-Fi can leave the stream hanging without an error: when the device says it
// is offline, give the stream up and say so; when it is back, reconnect and catch up.
window.addEventListener("offline", () => {
  if (!stream) return;
  stream.stop();
  stream = null;
  setLive("reconnecting");
});
window.addEventListener("online", () => {
  if (!stream && api.signedIn() && !$("#dashboard").hidden) connect({ resumed: true });
});

function onEvent({ event, data }) {
  if (!data || typeof data !== "object") return;
  if (event === "payment") {
    if (today.onPayment(data)) {
      sound.beep();
      toast(t("m.event.payment", { amount: yenOf(data.amount) }));
    }
    charge.onPayment(data); // after the toast above: a paid charge says so in its own words
  } else if (event === "refund") {
    today.onRefund(data);
  }
}

// -- Tabs ------------------------------------------------------------------------------

function tabFromHash() {
  const name = location.hash.replace("#", "");
  return TABS.includes(name) ? name : "today";
}

function selectTab(name, { focus = true } = {}) {
  for (const tab of ALL_TABS) {
    const button = $(`#tab-${tab}`);
    const selected = tab === name;
    button.setAttribute("aria-selected", String(selected));
    button.tabIndex = selected ? 0 : -1;
    $(`#panel-${tab}`).hidden = !selected;
  }
  if (focus) $(`#tab-${name}`).focus();
  if (location.hash.replace("#", "") !== name) history.replaceState(null, "", `#${name}`);
  panels[name].shown?.();
}

const tablist = document.querySelector('[role="tablist"]');
tablist.addEventListener("click", (event) => {
  const button = event.target.closest("[data-tab]");
  if (button) selectTab(button.dataset.tab);
});
tablist.addEventListener("keydown", (event) => {
  const current = TABS.indexOf(tabFromHash());
  const moves = { ArrowRight: 1, ArrowLeft: -1, Home: -current, End: TABS.length - 1 - current };
  if (!(event.key in moves)) return;
  event.preventDefault();
  selectTab(TABS[(current + moves[event.key] + TABS.length) % TABS.length]);
});
window.addEventListener("hashchange", () => {
  if (!$("#dashboard").hidden) selectTab(tabFromHash(), { focus: false });
});
window.addEventListener("machipay:goto", (event) => selectTab(event.detail));

// -- Start -----------------------------------------------------------------------------

(async () => {
  if (!api.signedIn()) {
    showSignIn();
    return;
  }
  try {
    const me = await api.me();
    if (!MERCHANT_ROLES.has(me.role)) {
      await api.signOut();
      showSignIn(t("m.error.not_merchant"));
      return;
    }
    await enter(me);
  } catch (error) {
    showSignIn(error.status === 401 ? t("error.session_expired") : describeError(error));
  }
})();
