// The one-time code as a CODE128 barcode beside its QR: the handheld scanners at many shop
// tills read 1D codes only. JsBarcode (vendored, CODE128 only) just encodes, into an object;
// the bars are drawn here as SVG rects with presentation attributes, because its own SVG
// renderer writes style="" attributes, which the page's Content-Security-Policy refuses.

const SVG_NS = "http://www.w3.org/2000/svg";
const QUIET_ZONE = 10; // modules of white on each side: scanners need it to find the start
const HEIGHT = 48; // in modules; the bars' width comes from the page (CSS)

function svgElement(tag, attributes) {
  const element = document.createElementNS(SVG_NS, tag);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, String(value));
  return element;
}

/** The modules ("1" black, "0" white) of CODE128 for these digits. */
export function code128Modules(code) {
  const encoded = {};
  window.JsBarcode(encoded, code, { format: "CODE128" });
  return encoded.encodings.map((part) => part.data).join("");
}

/** Draw ``code`` as CODE128 into ``box`` (an accessible image; the digits are shown apart). */
export function renderBarcode(box, code, { label }) {
  const modules = code128Modules(code);
  const width = modules.length + 2 * QUIET_ZONE;
  const svg = svgElement("svg", {
    viewBox: `0 0 ${width} ${HEIGHT}`, role: "img", "aria-label": label,
    "shape-rendering": "crispEdges", preserveAspectRatio: "none",
    "data-code": code, "data-modules": modules.length,
  });
  svg.append(svgElement("rect", { x: 0, y: 0, width, height: HEIGHT, fill: "#fff" }));
  for (let i = 0; i < modules.length;) {
    if (modules[i] !== "1") { i += 1; continue; }
    let run = 1;
    while (modules[i + run] === "1") run += 1;
    svg.append(svgElement("rect", { x: QUIET_ZONE + i, y: 0, width: run, height: HEIGHT, fill: "#000" }));
    i += run;
  }
  box.replaceChildren(svg);
}
