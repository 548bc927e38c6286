// The resident app's service worker (served at /app/sw.js, scope /app/).
// It keeps the app's own files so it starts fast, and shows /app/offline when a page
// cannot be loaded. It never answers an API request: balances and payments always come
// from the server, and nothing with money in it is ever written to a cache.
const VERSION = "__VERSION__";
const PRECACHE = ["__PRECACHE__"];
const CACHE = `machipay-app-${VERSION}`;
const OFFLINE = "/app/offline";

self.addEventListener("install", (event) => {
  event.waitUntil((async () => {
    const cache = await caches.open(CACHE);
    await cache.addAll(PRECACHE.map((url) => new Request(url, { cache: "reload" })));
    await self.skipWaiting();
  })());
});

self.addEventListener("activate", (event) => {
  event.waitUntil((async () => {
    for (const name of await caches.keys()) {
      if (name.startsWith("machipay-app-") && name !== CACHE) await caches.delete(name);
    }
    await self.clients.claim();
  })());
});

/** Pages: always the network; the offline page when it is down. */
async function page(request) {
  try {
    const response = await fetch(request);
    // A language switch (?lang=) changes the cookie: keep the offline page in that language.
    if (response.ok && new URL(request.url).searchParams.has("lang")) {
      caches.open(CACHE).then((cache) => cache.add(new Request(OFFLINE, { cache: "reload" }))).catch(() => {});
    }
    return response;
  } catch {
    const offline = await caches.match(OFFLINE);
    return offline || new Response("offline", { status: 503, headers: { "Content-Type": "text/plain" } });
  }
}

/** The app's own files (versioned with this worker): the cache first, else the network. */
async function asset(request) {
  const cached = await caches.match(request, { ignoreSearch: true });
  return cached || fetch(request);
}

self.addEventListener("fetch", (event) => {
  const { request } = event;
  const url = new URL(request.url);
  if (request.method !== "GET" || url.origin !== self.location.origin) return;
  if (url.pathname.startsWith("/api/")) return; // money: never from a cache
  if (request.mode === "navigate") {
    event.respondWith(page(request));
    return;
  }
  if (PRECACHE.includes(url.pathname)) event.respondWith(asset(request));
});
