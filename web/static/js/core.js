// What every client needs: messages, money and date formats, and an API client that keeps
// the user's tokens, refreshes them once on a 401, and turns problem+json into ApiError.

const MESSAGES = JSON.parse(document.getElementById("machipay-messages")?.textContent || "{}");
export const lang = document.documentElement.lang === "en" ? "en" : "ja";

/** A message in the page's language; `{name}` placeholders are filled from `values`. */
export function t(key, values = {}) {
  const text = MESSAGES[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => (name in values ? String(values[name]) : `{${name}}`));
}

const yenFormat = new Intl.NumberFormat("ja-JP", { style: "currency", currency: "JPY" });
const numberFormat = new Intl.NumberFormat(lang === "en" ? "en-US" : "ja-JP");

/** ¥1,234 (integer yen; null shows as an en dash). */
export function yen(amount) {
  return amount === null || amount === undefined ? "–" : yenFormat.format(amount);
}

export function number(value) {
  return value === null || value === undefined ? "–" : numberFormat.format(value);
}

/** A date-time in Tokyo, in the page's language. */
export function dateTime(iso, options = {}) {
  if (!iso) return "–";
  return new Date(iso).toLocaleString(lang === "en" ? "en-GB" : "ja-JP", {
    timeZone: "Asia/Tokyo", year: "numeric", month: "short", day: "numeric",
    hour: "2-digit", minute: "2-digit", ...options,
  });
}

export function dateOnly(iso) {
  return dateTime(iso, { hour: undefined, minute: undefined });
}

/** Today in Tokyo as YYYY-MM-DD. */
export function tokyoToday() {
  return new Date().toLocaleDateString("sv-SE", { timeZone: "Asia/Tokyo" });
}

// Numbers as a Japanese IME types them (０８０ー１２３４ー５６７８, １，０００): NFKC makes the digits
// ASCII; the hyphens of every width, ー and the spaces people put between groups go. The
// server does the same (machipay.text.nfkc_digits); the client does it so that what it
// checks and shows is what the server will take.
const SEPARATORS = /[\s\-\u2010-\u2015\u2212\u2043\ufe63\u30fc\u301c~]+/gu;

export function nfkcDigits(text) {
  return String(text ?? "").normalize("NFKC").replace(SEPARATORS, "");
}

/** A whole number as typed ("1,200", "¥1200", "１，２００円"), or null. */
export function wholeNumber(text) {
  // A minus sign is not a separator here: "-500" is refused, never read as 500.
  if (/^[-\u2212\u2010-\u2015\ufe63]/u.test(String(text ?? "").normalize("NFKC").trim())) return null;
  const plain = nfkcDigits(text).replace(/[,¥\\円]/g, "");
  if (!/^\d{1,15}$/.test(plain)) return null;
  return Number(plain);
}

function nfkcUsername(text) {
  return String(text ?? "").normalize("NFKC").trim();
}

export function idempotencyKey() {
  return crypto.randomUUID();
}

/**
 * A refusal from the API, with the problem's stable type slug (e.g. "insufficient-funds")
 * and, when the server said when to come back (Retry-After), that wait in milliseconds.
 */
export class ApiError extends Error {
  constructor(status, problem, retryAfterMs = null) {
    super(problem?.detail || problem?.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem || {};
    this.slug = (problem?.type || "").split("/").pop() || "";
    this.retryAfterMs = retryAfterMs;
  }
}

/**
 * Retry-After (whole seconds) as milliseconds, or null without one. An overloaded server
 * adds a jittered `retry_after_ms` to the problem; it is taken when it is not earlier than
 * the header, so clients told to wait do not all come back in the same instant.
 */
function retryAfterMs(response, problem) {
  const header = response.headers.get("Retry-After");
  if (header === null || !/^\d+$/.test(header.trim())) return null;
  const hinted = Number(problem?.retry_after_ms);
  return Math.max(Number(header) * 1000, Number.isInteger(hinted) ? hinted : 0);
}

/** The message to show a person for any error: ours for known problem types, else theirs. */
export function describeError(error) {
  if (error instanceof ApiError) {
    const key = `problem.${error.slug}`;
    if (key in MESSAGES) return t(key);
    if (error.status === 401) return t("error.session_expired");
    return error.problem.detail || error.problem.title || t("error.generic");
  }
  if (error instanceof TypeError) return t("error.network");
  return t("error.generic");
}

/**
 * An API client for one web client. The refresh token never reaches this script: the server
 * keeps it in an HttpOnly cookie named after the client (X-Machipay-Client), so the resident
 * app and the console can be signed in as different people in one browser. The short-lived
 * access token stays in sessionStorage (this tab only); a new tab or a reload gets a fresh
 * one from the cookie, echoing the readable CSRF cookie the server binds to it.
 */
export function createApi(client) {
  const storageKey = `machipay.${client}.access`;
  const csrfCookie = `machipay-csrf-${client}`;
  const clientHeader = { "X-Machipay-Client": client };
  let refreshing = null;
  // Tokens of earlier versions, refresh token included, must not linger where scripts read.
  localStorage.removeItem(`machipay.${client}.tokens`);

  const access = () => sessionStorage.getItem(storageKey);
  const keep = (answer) => sessionStorage.setItem(storageKey, answer.access_token);
  const csrf = () => document.cookie.split("; ").find((c) => c.startsWith(`${csrfCookie}=`))
    ?.slice(csrfCookie.length + 1) ?? null;
  const hasSession = () => access() !== null || csrf() !== null;
  const forget = () => {
    sessionStorage.removeItem(storageKey);
    // The HttpOnly refresh cookie is cleared by the server on sign-out; this one we can.
    document.cookie = `${csrfCookie}=; Max-Age=0; Path=/; Secure; SameSite=Strict`;
  };

  async function raw(method, path, { body, text, contentType, headers = {}, auth = true } = {}) {
    const init = {
      method,
      headers: { Accept: "application/json, application/problem+json", ...clientHeader, ...headers },
      credentials: "same-origin",
    };
    if (text !== undefined) {
      // A file as it is (a CSV upload), not JSON.
      init.headers["Content-Type"] = contentType;
      init.body = text;
    } else if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const token = access();
    if (auth && token) init.headers.Authorization = `Bearer ${token}`;
    return fetch(path, init);
  }

  async function refresh() {
    const echo = csrf();
    if (!echo) return false;
    refreshing ??= raw("POST", "/api/v1/auth/refresh", { headers: { "X-Machipay-CSRF": echo }, auth: false })
      .then(async (response) => {
        if (!response.ok) { forget(); return false; }
        keep(await response.json());
        return true;
      })
      .finally(() => { refreshing = null; });
    return refreshing;
  }

  async function request(method, path, options = {}) {
    if (options.auth !== false && !access() && csrf()) await refresh();
    let response = await raw(method, path, options);
    if (response.status === 401 && options.auth !== false && await refresh()) {
      response = await raw(method, path, options);
    }
    if (response.status === 204) return null;
    const type = response.headers.get("Content-Type") || "";
    const data = type.includes("json") ? await response.json() : await response.text();
    if (!response.ok) {
      // Only a request made with a token can sign someone out (a wrong password is a 401 too).
      if (response.status === 401 && options.auth !== false) {
        forget();
        window.dispatchEvent(new CustomEvent("machipay:signed-out"));
      }
      const problem = typeof data === "object" ? data : { detail: data };
      throw new ApiError(response.status, problem, retryAfterMs(response, problem));
    }
    return data;
  }

  async function end(path) {
    try { if (hasSession()) await request("POST", path); } catch { /* signed out anyway */ }
    forget();
  }

  return {
    get: (path, options) => request("GET", path, options),
    post: (path, body, options = {}) => request("POST", path, { ...options, body }),
    /** Any other method (PATCH, DELETE); a body only if given. */
    send: (method, path, body, options = {}) =>
      request(method, path, body === undefined ? options : { ...options, body }),
    patch: (path, body, options = {}) => request("PATCH", path, { ...options, body }),
    /** POST a file's text under its media type (text/csv). */
    upload: (path, text, contentType) => request("POST", path, { text, contentType }),
    /** The raw Response with the bearer header, for downloads and streams. */
    fetchRaw: async (path, init = {}) => {
      if (!access() && csrf()) await refresh();
      let response = await raw(init.method || "GET", path, init);
      if (response.status === 401 && await refresh()) response = await raw(init.method || "GET", path, init);
      return response;
    },
    signedIn: hasSession,
    accessToken: access,
    async signIn(username, password) {
      const answer = await request("POST", "/api/v1/auth/token", {
        body: { username: nfkcUsername(username), password }, auth: false,
      });
      keep(answer); // the refresh token in the answer is dropped: the cookie holds it
      return request("GET", "/api/v1/auth/me");
    },
    me: () => request("GET", "/api/v1/auth/me"),
    signOut: () => end("/api/v1/auth/logout"),
    /** Sign out on every device: every session of the user ends. */
    signOutEverywhere: () => end("/api/v1/auth/logout-all"),
  };
}

/** Download an authenticated file (CSV, PNG…) under a file name. */
export async function download(api, path, filename) {
  const response = await api.fetchRaw(path);
  if (!response.ok) throw new ApiError(response.status, await response.json().catch(() => ({})));
  const url = URL.createObjectURL(await response.blob());
  const link = Object.assign(document.createElement("a"), { href: url, download: filename });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

const STALL_MS = 45_000;

/**
 * Server-sent events over fetch (EventSource cannot send an Authorization header).
 * Calls onEvent({event, data}) per event; reconnects with back-off until stop() is called.
 */
export function streamEvents(api, path, onEvent, { onStatus = () => {} } = {}) {
  let stopped = false;
  let controller = null;
  (async () => {
    let delay = 1000;
    while (!stopped) {
      controller = new AbortController();
      try {
        const response = await api.fetchRaw(path, { headers: { Accept: "text/event-stream" }, signal: controller.signal });
        if (!response.ok) throw new ApiError(response.status, {});
        onStatus("open");
        delay = 1000;
        const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = "";
        // The server sends a keep-alive every 15 s: silence for 45 s is a dead line that the
        // browser has not noticed (a sleeping laptop, a NAT that dropped us). Reconnect.
        let stall = setTimeout(() => controller.abort(), STALL_MS);
        for (;;) {
          const { value, done } = await reader.read();
          clearTimeout(stall);
          if (done) break;
          stall = setTimeout(() => controller.abort(), STALL_MS);
          buffer += value;
          let end;
          while ((end = buffer.indexOf("\n\n")) >= 0) {
            const block = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            const event = { event: "message", data: "" };
            for (const line of block.split("\n")) {
              if (line.startsWith("event:")) event.event = line.slice(6).trim();
              else if (line.startsWith("data:")) event.data += line.slice(5).trim();
            }
            if (event.data) {
              try { event.data = JSON.parse(event.data); } catch { /* plain text */ }
              onEvent(event);
            }
          }
        }
      } catch (error) {
        if (stopped) return;
        if (error instanceof ApiError && error.status === 401) { onStatus("signed-out"); return; }
      }
      onStatus("reconnecting");
      await new Promise((resolve) => setTimeout(resolve, delay));
      delay = Math.min(delay * 2, 15_000);
    }
  })();
  return { stop() { stopped = true; controller?.abort(); } };
}

let toastTimer = null;
/** A short message at the bottom of the screen (announced to screen readers). */
export function toast(message, { error = false, ms = 4000 } = {}) {
  const box = document.getElementById("toast");
  if (!box) return;
  box.textContent = message;
  box.classList.toggle("toast-error", error);
  box.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { box.hidden = true; }, ms);
}

/** Put an error message into an element (role="alert" so it is read out). */
export function showError(element, error) {
  element.textContent = typeof error === "string" ? error : describeError(error);
  element.className = "alert alert-error";
  element.setAttribute("role", "alert");
  element.hidden = false;
}

/** Build an element: h("button", {class: "btn", onclick}, "text", child…). */
export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === false || value === null || value === undefined) continue;
    if (name.startsWith("on") && typeof value === "function") element.addEventListener(name.slice(2), value);
    else if (name === "class") element.className = value;
    // Through the CSSOM: the Content-Security-Policy refuses a style="…" attribute.
    else if (name === "style") element.style.cssText = value;
    else if (name === "dataset") Object.assign(element.dataset, value);
    else element.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

// The offline banner: every client shows it when the network drops.
function reflectNetwork() {
  const banner = document.getElementById("offline-banner");
  if (banner) banner.hidden = navigator.onLine;
}
window.addEventListener("online", reflectNetwork);
window.addEventListener("offline", reflectNetwork);
reflectNetwork();
