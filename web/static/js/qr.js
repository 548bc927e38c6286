// Drawing a QR code in the page with the vendored qrcode-generator (loaded as a classic
// script before this module: /static/vendor/qrcode-generator-1.4.4/qrcode.js).
// EMVCo payloads carry Japanese shop names, so bytes are UTF-8 (mode byte).

/** Replace the content of `element` with an SVG QR of `text`, with an accessible label. */
export function renderQr(element, text, { label = "QR", cellSize = 6 } = {}) {
  const qrcode = window.qrcode;
  qrcode.stringToBytes = qrcode.stringToBytesFuncs["UTF-8"];
  const code = qrcode(0, "M");
  code.addData(text, "Byte");
  code.make();
  element.innerHTML = code.createSvgTag({ cellSize, margin: 4, scalable: true });
  const svg = element.querySelector("svg");
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", label);
  element.dataset.payload = text;
  return svg;
}
