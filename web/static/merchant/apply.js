// The public application (/merchant/apply) and the applicant's status page
// (/merchant/apply/status). Every field is checked here with the server's rules and a
// Japanese message next to it; the server checks again and its refusals land on the same
// fields. The map pins the shop (click or drag); latitude and longitude can be typed too.

import { createApi, dateTime, describeError, h, nfkcDigits, showError, t, ApiError } from "/static/js/core.js";

const api = createApi("merchant");
const $ = (id) => document.getElementById(id);

// Ward's centre (世田谷区役所), where the map opens before a pin is placed.
const WARD_CENTRE = [35.6464, 139.6532];
const KATAKANA = /^[\u30A0-\u30FF\u3000 ]+$/u;
const ZENGIN_KANA = /^[\u30A0-\u30FF\u3000 A-Z0-9().,/-]+$/u;
const USERNAME = /^[a-z0-9][a-z0-9_.-]{2,63}$/;
const JP_PHONE = /^(?:\+81|0)\d{9,10}$/;
// Control and format characters the server refuses in shown text.
const HIDDEN = /[\p{Cc}\p{Cf}]/u;

// -- the form ------------------------------------------------------------------------------

const form = $("apply-form");
if (form) startForm();
else startStatus();

function value(name) {
  return $(`f-${name}`).value;
}

function shown(text) {
  return text.normalize("NFKC").split(/\s+/u).filter(Boolean).join(" ");
}

function setError(name, message) {
  const control = $(`f-${name}`);
  const line = $(`f-${name}-error`);
  control?.setAttribute("aria-invalid", "true");
  if (line) { line.textContent = message; line.hidden = false; }
}

function clearErrors() {
  form.querySelectorAll("[aria-invalid]").forEach((el) => el.removeAttribute("aria-invalid"));
  form.querySelectorAll(".field-error").forEach((el) => { el.textContent = ""; el.hidden = true; });
  $("apply-summary").hidden = true;
}

function showSummary(messages) {
  const summary = $("apply-summary");
  summary.replaceChildren(
    h("p", {}, h("strong", {}, t("ap.error.summary"))),
    h("ul", {}, messages.map(([name, message]) => h("li", {}, h("a", { href: `#f-${name}` }, message)))),
  );
  summary.hidden = false;
  const first = form.querySelector("[aria-invalid='true']");
  (first || summary).focus();
}

function coordinate(text) {
  const plain = text.normalize("NFKC").trim();
  if (!plain) return null;
  return /^-?\d{1,3}(\.\d{1,10})?$/.test(plain) ? Number(plain) : NaN;
}

/** The body for POST /api/v1/merchants and the problems found, [[field, message]]. */
function readForm() {
  const problems = [];
  const need = (name, ok, key = `ap.e.${name}`) => { if (!ok) problems.push([name, t(key)]); };
  const name = shown(value("name"));
  need("name", name.length >= 1 && name.length <= 60 && !HIDDEN.test(value("name")));
  const kana = shown(value("name_kana"));
  need("name_kana", kana.length >= 1 && kana.length <= 80 && KATAKANA.test(kana));
  need("category", Boolean(value("category")));
  need("store_type", Boolean(value("store_type")));
  const phone = nfkcDigits(value("phone"));
  need("phone", !phone || JP_PHONE.test(phone));
  const hours = shown(value("opening_hours"));
  need("opening_hours", hours.length <= 200 && !HIDDEN.test(value("opening_hours")));
  const postal = nfkcDigits(value("postal_code")).replace("〒", "");
  need("postal_code", /^15[4-8]\d{4}$/.test(postal));
  const address = shown(value("address"));
  need("address", address.length >= 1 && address.length <= 200 && !HIDDEN.test(value("address")));
  const lat = coordinate(value("latitude"));
  const lon = coordinate(value("longitude"));
  const pinned = lat !== null || lon !== null;
  if (pinned) {
    need("latitude", lat !== null && lat >= 20 && lat <= 46);
    need("longitude", lon !== null && lon >= 122 && lon <= 154);
  }
  const bank = {
    bank_code: nfkcDigits(value("bank_code")),
    branch_code: nfkcDigits(value("branch_code")),
    account_type: value("account_type"),
    account_number: nfkcDigits(value("account_number")),
    account_name_kana: value("account_name_kana").normalize("NFKC").trim().toUpperCase(),
  };
  need("bank_code", /^\d{4}$/.test(bank.bank_code));
  need("branch_code", /^\d{3}$/.test(bank.branch_code));
  need("account_type", ["ordinary", "current", "savings"].includes(bank.account_type));
  need("account_number", /^\d{1,7}$/.test(bank.account_number));
  // Half-width in the bank file: a voiced kana (ガ) takes two characters (ｶﾞ).
  const halfWidth = [...bank.account_name_kana].reduce((n, c) => n + (/[\u30AC-\u30C9\u30D0-\u30DD\u30F4]/u.test(c) ? 2 : 1), 0);
  need("account_name_kana", Boolean(bank.account_name_kana) && ZENGIN_KANA.test(bank.account_name_kana) && halfWidth <= 30);
  const username = value("owner_username").normalize("NFKC").trim();
  need("owner_username", USERNAME.test(username));
  const password = value("owner_password");
  need("owner_password", password.length >= 10 && password.length <= 256);
  const ownerPhone = nfkcDigits(value("owner_phone"));
  need("owner_phone", !ownerPhone || JP_PHONE.test(ownerPhone));
  need("consent", $("f-consent").checked);
  const street = value("street");
  const body = {
    name, name_kana: kana, category: value("category"), store_type: value("store_type"),
    shopping_street_id: street ? Number(street) : null,
    postal_code: postal, address,
    owner_username: username, owner_password: password,
    bank,
    consent: true,
  };
  if (phone) body.phone = phone;
  if (hours) body.opening_hours = hours;
  if (ownerPhone) body.owner_phone = ownerPhone;
  if (pinned && lat !== null && lon !== null) { body.latitude = lat; body.longitude = lon; }
  return { body, problems };
}

// A server refusal, on its field: "/body/bank/bank_code" or field "bank.bank_code".
function serverField(error) {
  const fields = [];
  for (const e of error.problem.errors || []) {
    const parts = String(e.pointer || "").split("/").filter(Boolean);
    if (parts[0] === "body") parts.shift();
    fields.push(parts.at(-1));
  }
  if (error.problem.field) fields.push(String(error.problem.field).split(".").at(-1));
  if (error.problem.field === "password") fields.push("owner_password");
  return fields.map((f) => (f === "shopping_street_id" ? "street" : f)).filter((f) => $(`f-${f}`));
}

async function loadChoices() {
  const [categories, streets] = await Promise.all([
    api.get("/api/v1/merchant-categories", { auth: false }),
    api.get("/api/v1/shopping-streets", { auth: false }),
  ]);
  const en = document.documentElement.lang === "en";
  $("f-category").append(...categories.map((c) => h("option", { value: c.code }, en ? c.name_en : c.name)));
  $("f-street").append(...streets.map((s) => h("option", { value: s.id }, en ? s.name_en : s.name)));
}

function startMap() {
  const box = $("apply-map");
  const L = window.L;
  if (!L) { box.hidden = true; return; }
  const map = L.map(box, { center: WARD_CENTRE, zoom: 14, scrollWheelZoom: false });
  const tiles = form.dataset.tileUrl;
  if (tiles) {
    L.tileLayer(tiles, { maxZoom: 19, attribution: form.dataset.tileAttribution }).addTo(map);
  } else {
    box.classList.add("no-tiles");
    $("map-no-tiles").hidden = false;
  }
  let marker = null;
  const show = (lat, lon) => {
    $("f-latitude").value = lat.toFixed(6);
    $("f-longitude").value = lon.toFixed(6);
  };
  const pin = (lat, lon, { pan = false } = {}) => {
    if (!marker) {
      marker = L.marker([lat, lon], { draggable: true, keyboard: true, title: t("ap.f.map"), alt: t("ap.f.map") }).addTo(map);
      marker.on("dragend", () => { const p = marker.getLatLng(); show(p.lat, p.lng); });
    } else {
      marker.setLatLng([lat, lon]);
    }
    if (pan) map.panTo([lat, lon]);
  };
  map.on("click", (event) => { pin(event.latlng.lat, event.latlng.lng); show(event.latlng.lat, event.latlng.lng); });
  const typed = () => {
    const lat = coordinate($("f-latitude").value);
    const lon = coordinate($("f-longitude").value);
    if (lat !== null && lon !== null && lat >= 20 && lat <= 46 && lon >= 122 && lon <= 154) pin(lat, lon, { pan: true });
  };
  $("f-latitude").addEventListener("change", typed);
  $("f-longitude").addEventListener("change", typed);
  $("map-clear").addEventListener("click", () => {
    if (marker) { marker.remove(); marker = null; }
    $("f-latitude").value = "";
    $("f-longitude").value = "";
  });
}

function startForm() {
  loadChoices().catch((error) => showError($("apply-summary"), error));
  startMap();
  // A corrected field loses its message at once; the others keep theirs until the next try.
  form.addEventListener("input", (event) => {
    const name = event.target.id?.replace(/^f-/, "");
    const line = name && $(`f-${name}-error`);
    if (!line || line.hidden) return;
    event.target.removeAttribute("aria-invalid");
    line.hidden = true;
    line.textContent = "";
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors();
    const { body, problems } = readForm();
    if (problems.length) {
      problems.forEach(([name, message]) => setError(name, message));
      showSummary(problems);
      return;
    }
    const button = $("apply-submit");
    button.disabled = true;
    button.textContent = t("ap.submitting");
    try {
      const answer = await api.post("/api/v1/merchants", body, { auth: false });
      form.hidden = true;
      $("done-body").textContent = t("ap.done.body", { id: answer.id });
      $("apply-done").hidden = false;
      $("done-title").focus();
    } catch (error) {
      if (error instanceof ApiError && error.status === 409) {
        setError("owner_username", t("ap.e.owner_username_taken"));
        showSummary([["owner_username", t("ap.e.owner_username_taken")]]);
      } else if (error instanceof ApiError && error.status === 422 && serverField(error).length) {
        const named = serverField(error).map((name) => [name, t(`ap.e.${name}`)]);
        named.forEach(([name, message]) => setError(name, message));
        showSummary(named);
      } else {
        showError($("apply-summary"), describeError(error));
        $("apply-summary").focus();
      }
    } finally {
      button.disabled = false;
      button.textContent = t("ap.submit");
    }
  });
}

// -- the status page -----------------------------------------------------------------------

const BADGE = { pending: "badge-warn", active: "", rejected: "badge-red", suspended: "badge-red" };

function showApplication(app) {
  $("status-sign-in").hidden = true;
  $("status-view").hidden = false;
  $("status-shop").textContent = app.name;
  const badge = $("status-badge");
  badge.textContent = t(`ap.badge.${app.status}`);
  badge.className = `badge ${BADGE[app.status] ?? "badge-grey"}`;
  badge.dataset.status = app.status;
  $("status-id").textContent = String(app.id);
  $("status-applied").textContent = dateTime(app.applied_at);
  const decided = app.approved_at || app.rejected_at;
  $("status-decided-term").hidden = !decided;
  $("status-decided").hidden = !decided;
  $("status-decided").textContent = decided ? dateTime(decided) : "";
  $("status-headline").textContent = t(`ap.st.${app.status}`);
  let body = t(`ap.st.${app.status}.body`);
  if (app.status === "pending" && app.first_approval_given) body = t("ap.st.pending.first");
  if (app.status === "rejected") body = t("ap.st.rejected.body");
  $("status-body").textContent = body;
  $("status-reason-box").hidden = app.status !== "rejected";
  $("status-reason").textContent = app.rejection_reason || "";
  $("status-dashboard").hidden = app.status !== "active";
  $("status-apply-again").hidden = app.status !== "rejected";
}

async function loadStatus() {
  showApplication(await api.get("/api/v1/merchant/application"));
}

function startStatus() {
  const errorBox = $("status-error");
  $("status-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    errorBox.hidden = true;
    const username = $("username").value.trim();
    const password = $("password").value;
    if (!username || !password) { showError(errorBox, t("ap.status.missing")); return; }
    const button = $("status-check");
    button.disabled = true;
    try {
      await api.signIn(username, password);
      $("password").value = "";
      await loadStatus();
      $("status-headline").focus?.();
    } catch (error) {
      showError(errorBox, describeError(error));
    } finally {
      button.disabled = false;
    }
  });
  $("status-sign-out").addEventListener("click", async () => {
    await api.signOut().catch(() => {});
    $("status-view").hidden = true;
    $("status-sign-in").hidden = false;
    $("username").focus();
  });
  if (api.signedIn()) loadStatus().catch(() => { /* signed out or not a shop: the form stays */ });
}
