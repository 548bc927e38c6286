// The shop directory (お店をさがす), shared by the residents' app and the public /shops page:
// search by name, category, shopping street and district, "campaign now" badges with the
// rate that applies, a list or a map (Leaflet, loaded on first use). Tiles come from the
// server's MACHIPAY_MAP_TILE_URL; without one the map shows its markers on a plain
// background and nothing is fetched from anywhere else.
import { dateOnly, h, number, showError, t } from "/static/js/core.js";

const PAGE_SIZE = 20;
// The map shows at most this many shops of a search (a few pages at the largest page size).
const MAP_PAGES = 6;
const MAP_PAGE_SIZE = 50;
const WARD_CENTRE = [35.6464, 139.6533];
const LEAFLET = "/static/vendor/leaflet-1.9.4";

/** {tile_url, attribution} from the page (empty tile_url: no tiles). */
export function mapConfig() {
  try {
    return JSON.parse(document.getElementById("machipay-map")?.textContent || "{}");
  } catch {
    return {};
  }
}

let leafletLoading = null;

/** Leaflet's script and stylesheet, added once, when a map is first shown. */
export function loadLeaflet() {
  if (window.L) return Promise.resolve(window.L);
  leafletLoading ??= new Promise((resolve, reject) => {
    document.head.append(h("link", { rel: "stylesheet", href: `${LEAFLET}/leaflet.css` }));
    const script = h("script", { src: `${LEAFLET}/leaflet.js` });
    script.addEventListener("load", () => resolve(window.L));
    script.addEventListener("error", () => { leafletLoading = null; reject(new TypeError("leaflet")); });
    document.head.append(script);
  });
  return leafletLoading;
}

/** 3000 basis points → "30%" (one decimal only when needed). */
export function percent(bp) {
  return `${Number.isInteger(bp / 100) ? bp / 100 : (bp / 100).toFixed(1)}%`;
}

export function campaignBadge(campaign) {
  return h("span", { class: "badge badge-campaign", title: campaign.name },
    t("shops.badge", { rate: percent(campaign.resident_rate_bp) }));
}

function shopCard(shop) {
  return h("li", { class: "shop-card", dataset: { shopId: String(shop.id) } },
    h("div", { class: "shop-head" },
      h("h3", { class: "shop-name" }, shop.name),
      shop.campaign ? campaignBadge(shop.campaign) : null),
    h("p", { class: "shop-meta muted" },
      [shop.category_name, shop.shopping_street || t("street.none"), shop.district].filter(Boolean).join(" ・ ")),
    h("dl", { class: "shop-facts" },
      h("div", {}, h("dt", {}, t("shops.address")), h("dd", {}, shop.address)),
      shop.opening_hours ? h("div", {}, h("dt", {}, t("shops.hours")), h("dd", { class: "shop-hours" }, shop.opening_hours)) : null,
      shop.phone ? h("div", {}, h("dt", {}, t("shops.phone")), h("dd", {}, h("a", { href: `tel:${shop.phone}` }, shop.phone))) : null),
    shop.campaign
      ? h("p", { class: "shop-campaign small" }, t("shops.campaign_until", {
        name: shop.campaign.name, date: dateOnly(shop.campaign.ends_at),
      }))
      : null);
}

function options(select, items, allKey) {
  select.replaceChildren(h("option", { value: "" }, t(allKey)),
    ...items.map(([value, label]) => h("option", { value }, label)));
}

/**
 * Mount the directory into `root`. `api`: a core.js API client (calls go without a token:
 * the directory is public); `campaign`: start filtered on one campaign's shops; `scope`:
 * the app's screen scope (answers arriving after leaving are dropped).
 */
export async function mountDirectory(root, { api, campaign = null, scope = { left: false } }) {
  const q = h("input", { id: "shop-q", type: "search", name: "q", maxlength: 50, autocomplete: "off", enterkeyhint: "search", placeholder: t("shops.q_placeholder") });
  const category = h("select", { id: "shop-category", name: "category" });
  const street = h("select", { id: "shop-street", name: "street" });
  const district = h("select", { id: "shop-district", name: "district" });
  const onlyCampaign = h("input", { id: "shop-campaign", type: "checkbox", name: "campaign", checked: Boolean(campaign) });
  const labelled = (input, key) => h("div", { class: "field" }, h("label", { for: input.id }, t(key)), input);
  const form = h("form", { class: "card shop-search", role: "search", novalidate: true },
    h("div", { class: "shop-search-row" }, labelled(q, "shops.q"),
      h("button", { class: "btn", type: "submit", id: "shop-search-submit" }, t("shops.search"))),
    h("div", { class: "shop-filters" },
      labelled(category, "shops.category"), labelled(street, "shops.street"), labelled(district, "shops.district")),
    h("label", { class: "check", for: onlyCampaign.id }, onlyCampaign, " ", t("shops.only_campaign")));
  const listButton = h("button", { type: "button", id: "shop-view-list", class: "btn btn-sm", "aria-pressed": "true" }, t("shops.view_list"));
  const mapButton = h("button", { type: "button", id: "shop-view-map", class: "btn btn-sm btn-secondary", "aria-pressed": "false" }, t("shops.view_map"));
  const count = h("p", { id: "shop-count", class: "muted", role: "status" });
  const problem = h("div", { id: "shop-error", class: "alert alert-error", role: "alert", hidden: true });
  const list = h("ul", { id: "shop-list", class: "shop-list" });
  const more = h("button", { type: "button", id: "shop-more", class: "btn btn-secondary btn-block", hidden: true }, t("shops.more"));
  const listPane = h("div", { id: "shop-list-pane" }, list, more);
  const mapBox = h("div", { id: "shop-map", class: "shop-map", role: "region", "aria-label": t("shops.map_label") });
  const unmapped = h("p", { id: "shop-unmapped", class: "muted small", hidden: true });
  const mapPane = h("div", { id: "shop-map-pane", hidden: true }, mapBox, unmapped);
  root.append(form,
    h("div", { class: "spread shop-toolbar" }, count, h("div", { class: "shop-toggle", role: "group", "aria-label": t("shops.view") }, listButton, mapButton)),
    problem, listPane, mapPane);

  let cursor = null;
  let showing = "list";
  let generation = 0;
  let map = null;
  let markers = null;

  function params(extra = {}) {
    const query = new URLSearchParams();
    const text = q.value.normalize("NFKC").trim();
    if (text) query.set("q", text.slice(0, 50));
    if (category.value) query.set("category", category.value);
    if (street.value) query.set("street", street.value);
    if (district.value) query.set("district", district.value);
    if (onlyCampaign.checked) query.set("campaign", onlyCampaignId || "now");
    for (const [key, value] of Object.entries(extra)) if (value !== null) query.set(key, value);
    return query;
  }
  // Opened on one campaign's shops (#/shops/<id>): unticking widens to every shop, and
  // ticking again means any campaign running now.
  let onlyCampaignId = campaign;
  onlyCampaign.addEventListener("change", () => { if (!onlyCampaign.checked) onlyCampaignId = null; });

  async function page(extra) {
    return api.get(`/api/v1/shops?${params(extra)}`, { auth: false });
  }

  async function search({ append = false } = {}) {
    const mine = ++generation;
    problem.hidden = true;
    try {
      const answer = await page({ limit: String(PAGE_SIZE), cursor: append ? cursor : null });
      if (scope.left || mine !== generation) return;
      if (!append) list.replaceChildren();
      list.append(...answer.items.map(shopCard));
      cursor = answer.next_cursor;
      more.hidden = !cursor;
      const shown = list.children.length;
      count.textContent = shown ? t(cursor ? "shops.count_more" : "shops.count", { count: number(shown) }) : t("shops.none");
      if (showing === "map") await drawMap(mine);
    } catch (error) {
      if (!scope.left) showError(problem, error);
    }
  }

  async function drawMap(mine) {
    const L = await loadLeaflet();
    if (scope.left || mine !== generation) return;
    if (!map) {
      const config = mapConfig();
      map = L.map(mapBox, { scrollWheelZoom: false }).setView(WARD_CENTRE, 13);
      if (config.tile_url) {
        L.tileLayer(config.tile_url, { attribution: config.attribution || "", maxZoom: 19 }).addTo(map);
      } else {
        mapBox.classList.add("no-tiles");
      }
      markers = L.layerGroup().addTo(map);
    }
    // Every shop of the search (a bounded number of pages), not only the listed ones.
    const found = [];
    let next = null;
    for (let n = 0; n < MAP_PAGES; n += 1) {
      const answer = await page({ limit: String(MAP_PAGE_SIZE), cursor: next });
      if (scope.left || mine !== generation) return;
      found.push(...answer.items);
      next = answer.next_cursor;
      if (!next) break;
    }
    markers.clearLayers();
    const points = [];
    for (const shop of found.filter((s) => s.location)) {
      const at = [shop.location.lat, shop.location.lon];
      points.push(at);
      const popup = h("div", { class: "shop-popup" },
        h("strong", {}, shop.name), " ", shop.campaign ? campaignBadge(shop.campaign) : null,
        h("p", {}, shop.address), shop.opening_hours ? h("p", {}, shop.opening_hours) : null);
      L.circleMarker(at, {
        radius: 9, weight: 2, color: "#ffffff",
        fillColor: shop.campaign ? "#c2410c" : "#0a7d4f", fillOpacity: 0.95,
        className: shop.campaign ? "shop-marker shop-marker-campaign" : "shop-marker",
      }).bindPopup(popup).bindTooltip(shop.name).addTo(markers);
    }
    const missing = found.length - points.length;
    unmapped.textContent = t("shops.unmapped", { count: number(missing) });
    unmapped.hidden = missing === 0;
    mapBox.dataset.markers = String(points.length);
    map.invalidateSize();
    if (points.length) map.fitBounds(points, { padding: [24, 24], maxZoom: 16 });
  }

  function switchTo(which) {
    showing = which;
    listButton.setAttribute("aria-pressed", String(which === "list"));
    mapButton.setAttribute("aria-pressed", String(which === "map"));
    listButton.classList.toggle("btn-secondary", which !== "list");
    mapButton.classList.toggle("btn-secondary", which !== "map");
    listPane.hidden = which !== "list";
    mapPane.hidden = which !== "map";
    if (which === "map") {
      drawMap(generation).catch((error) => { if (!scope.left) showError(problem, error); });
    }
  }
  listButton.addEventListener("click", () => switchTo("list"));
  mapButton.addEventListener("click", () => switchTo("map"));
  form.addEventListener("submit", (event) => { event.preventDefault(); search(); });
  for (const select of [category, street, district]) select.addEventListener("change", () => search());
  onlyCampaign.addEventListener("change", () => search());
  more.addEventListener("click", () => search({ append: true }));

  const [categories, streets, districts] = await Promise.all([
    api.get("/api/v1/merchant-categories", { auth: false }),
    api.get("/api/v1/shopping-streets", { auth: false }),
    api.get("/api/v1/districts", { auth: false }),
  ]);
  if (scope.left) return;
  options(category, categories.map((c) => [c.code, c.name]), "shops.all_categories");
  options(street, streets.map((s) => [String(s.id), s.name]), "shops.all_streets");
  options(district, districts.map((d) => [d.id, d.name]), "shops.all_districts");
  await search();
}

/** A campaign running now: what, where, until when; with `cap_left` (a resident) what is left. */
export function campaignCard(campaign, { shopsHref = null } = {}) {
  const where = campaign.where;
  const places = [
    ...where.shopping_streets.map((s) => s.name),
    ...where.districts.map((d) => d.name),
  ];
  const kinds = where.categories.map((c) => c.name);
  const rate = campaign.max_resident_rate_bp > campaign.resident_rate_bp
    ? t("campaigns.rate_up_to", { rate: percent(campaign.max_resident_rate_bp) })
    : t("campaigns.rate", { rate: percent(campaign.resident_rate_bp) });
  const facts = [
    [t("campaigns.where"), places.length ? places.join("、") : t("campaigns.everywhere")],
    kinds.length ? [t("campaigns.categories"), kinds.join("、")] : null,
    [t("campaigns.until"), t("campaigns.until_date", { date: dateOnly(campaign.ends_at) })],
    campaign.min_payment ? [t("campaigns.min_payment"), t("campaigns.yen", { amount: number(campaign.min_payment) })] : null,
    campaign.per_payment_cap ? [t("campaigns.per_payment_cap"), `${number(campaign.per_payment_cap)} pt`] : null,
    campaign.per_resident_monthly_cap ? [t("campaigns.monthly_cap"), `${number(campaign.per_resident_monthly_cap)} pt`] : null,
  ].filter(Boolean);
  return h("li", { class: "card campaign-card", dataset: { campaignId: String(campaign.id) } },
    h("div", { class: "shop-head" }, h("h2", { class: "campaign-name" }, campaign.name), h("span", { class: "badge badge-campaign" }, rate)),
    "cap_left" in campaign
      ? h("p", { class: "campaign-cap-left", role: "note" }, campaign.cap_left === null
        ? t("campaigns.no_cap")
        : t("campaigns.cap_left", { points: number(campaign.cap_left) }))
      : null,
    h("dl", { class: "shop-facts" }, facts.map(([term, value]) => h("div", {}, h("dt", {}, term), h("dd", {}, value)))),
    shopsHref ? h("a", { class: "btn btn-secondary btn-sm campaign-shops", href: shopsHref }, t("campaigns.see_shops")) : null);
}
