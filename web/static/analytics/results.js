// The answer to a query as a table (suppressed cells marked "＜k", never shown as zero)
// and as a CSV for Excel (UTF-8 with a BOM; suppressed cells empty, a `suppressed` column).

import { h, t } from "/static/js/core.js";
import { dimensionLabel, formatMeasure, measureLabel, sortRows } from "./labels.js";

/** A DP answer's 95 % error band for one measure of one row, if the server sent one. */
export function errorOf(answer, row, measure) {
  const candidates = [row[`${measure}_error`], row.errors?.[measure], answer.errors?.[measure]];
  for (const value of candidates) if (typeof value === "number" && Number.isFinite(value)) return value;
  return null;
}

function hasErrors(answer, measures) {
  return answer.rows.some((row) => measures.some((m) => errorOf(answer, row, m) !== null));
}

/** Build the results table for `answer` to `query`; `label(dimension, value)` names ids. */
export function resultsTable(answer, query, { label, k }) {
  const { measures, dimensions } = query;
  const rows = sortRows(answer.rows, dimensions);
  const mark = t("analytics.suppressed.mark", { k });
  const why = t("analytics.suppressed.tooltip", { k });
  const head = h("tr", {},
    dimensions.map((d) => h("th", { scope: "col" }, dimensionLabel(d))),
    measures.map((m) => h("th", { scope: "col", class: "num" }, measureLabel(m))),
  );
  const body = rows.map((row, index) => {
    const suppressed = row.suppressed === true;
    return h("tr", { dataset: { row: String(index), suppressed: String(suppressed), key: JSON.stringify(dimensions.map((d) => row[d] ?? null)) } },
      dimensions.map((d) => h("td", { dataset: { dimension: d, value: JSON.stringify(row[d] ?? null) } }, label(d, row[d]))),
      measures.map((m) => {
        if (suppressed) {
          return h("td", { class: "num suppressed", title: why, dataset: { measure: m, suppressed: "true" } },
            mark);
        }
        const value = row[m];
        const error = errorOf(answer, row, m);
        // A DP value whose noise is larger than itself says next to nothing: shown, but greyed.
        const noisy = error !== null && typeof value === "number" && error > Math.abs(value);
        return h("td", {
          class: noisy ? "num an-noisy" : "num",
          title: noisy ? t("analytics.results.noisy") : null,
          dataset: { measure: m, value: value === null || value === undefined ? "" : String(value) },
        },
        formatMeasure(m, value),
        error === null ? null : h("span", { class: "an-error-band" }, ` ± ${formatMeasure(m, error)}`));
      }),
    );
  });
  return h("table", { id: "answer-table", class: "an-table" },
    h("caption", { class: "an-sr-only" }, t("analytics.results.caption")),
    h("thead", {}, head),
    h("tbody", {}, body),
  );
}

export function answerHasErrors(answer, query) {
  return hasErrors(answer, query.measures);
}

function csvField(value, { text = false } = {}) {
  if (value === null || value === undefined) return "";
  let s = String(value);
  // A text cell that starts like a formula is not run by a spreadsheet.
  if (text && /^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

/** The answer as CSV text (with a BOM so Excel reads it as UTF-8). */
export function answerCsv(answer, query, { label }) {
  const { measures, dimensions } = query;
  const withErrors = hasErrors(answer, measures);
  const header = [
    ...dimensions.flatMap((d) => [d, `${d}_name`]),
    ...measures.flatMap((m) => (withErrors ? [m, `${m}_error_95`] : [m])),
    "suppressed",
  ];
  const lines = [header.join(",")];
  for (const row of sortRows(answer.rows, dimensions)) {
    const suppressed = row.suppressed === true;
    const fields = [
      ...dimensions.flatMap((d) => [csvField(row[d], { text: true }), csvField(label(d, row[d]), { text: true })]),
      ...measures.flatMap((m) => {
        const value = suppressed ? "" : csvField(row[m]);
        if (!withErrors) return [value];
        return [value, suppressed ? "" : csvField(errorOf(answer, row, m))];
      }),
      suppressed ? "1" : "0",
    ];
    lines.push(fields.join(","));
  }
  return `\uFEFF${lines.join("\r\n")}\r\n`;
}

/** Offer `text` as a file download. */
export function saveText(text, filename, type = "text/csv;charset=utf-8") {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const link = Object.assign(document.createElement("a"), { href: url, download: filename });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
