// What the analytics API speaks (measure and dimension ids) and how a person reads it:
// street, district and category names in the page's language, months, weekdays, hours.

import { lang, number, t, yen } from "/static/js/core.js";

export const MEASURES = ["spend", "payments", "residents", "average_ticket", "points_used", "rewards"];
export const YEN_MEASURES = new Set(["spend", "average_ticket", "points_used", "rewards"]);
export const DIMENSIONS = [
  "shopping_street", "district", "category", "store_type", "age_band", "month", "week", "weekday", "hour", "campaign",
];
/** Dimensions finer than a district: the server refuses them together with the hour. */
export const FINER_THAN_DISTRICT = new Set(["shopping_street"]);
export const INTEGER_DIMENSIONS = new Set(["shopping_street", "weekday", "hour", "campaign"]);
export const STORE_TYPES = ["small", "chain", "large"];
export const AGE_BANDS = ["10-19", "20-29", "30-39", "40-49", "50-59", "60-69", "70-79", "80+"];
export const WEEKDAYS = [1, 2, 3, 4, 5, 6, 7];
export const MONTH_PATTERN = /^\d{4}-(0[1-9]|1[0-2])$/;

/** A measure's value as text: yen or a count; null as an en dash. */
export function formatMeasure(measure, value) {
  if (value === null || value === undefined) return "–";
  return YEN_MEASURES.has(measure) ? yen(Math.round(value)) : number(Math.round(value));
}

export function measureLabel(measure) {
  return t(`analytics.measure.${measure}`);
}

export function dimensionLabel(dimension) {
  return t(`analytics.dimension.${dimension}`);
}

const pad = (n) => String(n).padStart(2, "0");

/**
 * A labeller over the ward's reference data: `label(dimension, value)` gives the name a
 * person reads (下北沢一番街商店街, 2026年11月, 火曜, 9時…).
 */
export function makeLabeller({ streets = [], districts = [], categories = [], campaigns = [] } = {}) {
  const localName = (item) => (lang === "en" ? item.name_en || item.name : item.name);
  const streetNames = new Map(streets.map((s) => [String(s.id), localName(s)]));
  const districtNames = new Map(districts.map((d) => [d.id, localName(d)]));
  const categoryNames = new Map(categories.map((c) => [c.code, localName(c)]));
  const campaignNames = new Map(campaigns.map((c) => [String(c.id), c.name]));

  return function label(dimension, value) {
    if (dimension === "shopping_street" && (value === null || value === undefined)) return t("street.none");
    if (dimension === "campaign" && (value === null || value === undefined)) return t("analytics.campaign.none");
    if (value === null || value === undefined || value === "") return t("analytics.value.unknown");
    switch (dimension) {
      case "shopping_street": return streetNames.get(String(value)) ?? `#${value}`;
      case "district": return districtNames.get(value) ?? String(value);
      case "category": return categoryNames.get(value) ?? String(value);
      case "campaign": return campaignNames.get(String(value)) ?? `#${value}`;
      case "store_type": return STORE_TYPES.includes(value) ? t(`analytics.store_type.${value}`) : String(value);
      case "age_band": {
        if (value === "80+") return t("analytics.age.80plus");
        const [low, high] = String(value).split("-");
        return high ? t("analytics.age.band", { low, high }) : String(value);
      }
      case "month": {
        const [y, mm] = String(value).split("-");
        return mm ? t("analytics.month", { y, m: Number(mm), mm }) : String(value);
      }
      case "week": {
        const [y, w] = String(value).split("-W");
        return w ? t("analytics.week", { y, w: Number(w) }) : String(value);
      }
      case "weekday": return WEEKDAYS.includes(Number(value)) ? t(`analytics.weekday.${Number(value)}`) : String(value);
      case "hour": return t("analytics.hour", { h: Number(value), hh: pad(value) });
      default: return String(value);
    }
  };
}

/** Order of a dimension's values for display: numbers as numbers, "not on a street" last. */
export function compareValues(dimension, a, b) {
  if (a === b) return 0;
  if (a === null || a === undefined) return 1;
  if (b === null || b === undefined) return -1;
  if (INTEGER_DIMENSIONS.has(dimension)) return Number(a) - Number(b);
  if (dimension === "age_band") return AGE_BANDS.indexOf(a) - AGE_BANDS.indexOf(b);
  return String(a).localeCompare(String(b));
}

export function sortRows(rows, dimensions) {
  return [...rows].sort((x, y) => {
    for (const dimension of dimensions) {
      const order = compareValues(dimension, x[dimension], y[dimension]);
      if (order) return order;
    }
    return 0;
  });
}
