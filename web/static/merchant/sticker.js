// QRステッカー: the shop's static code (customers type the amount themselves): a preview,
// PNG and SVG downloads, and the printable A6 sticker page.

import { ApiError, download, h, showError, t } from "/static/js/core.js";
import { renderQr } from "/static/js/qr.js";
import { $, busy } from "./util.js";

export function setupSticker(api) {
  let loaded = false;
  let shop = null;

  function fileName(ext) {
    return `machipay-shop-${shop?.id ?? "qr"}.${ext}`;
  }

  async function preview() {
    const box = $("#sticker-error");
    box.hidden = true;
    try {
      const response = await api.fetchRaw("/api/v1/merchant/qr?format=payload");
      if (!response.ok) throw new ApiError(response.status, await response.json().catch(() => ({})));
      const payload = await response.text();
      renderQr($("#sticker-qr"), payload, { label: t("m.sticker.qr_label", { name: shop?.name ?? "" }) });
      loaded = true;
    } catch (err) {
      $("#sticker-qr").replaceChildren();
      showError(box, err);
    }
  }

  async function save(button, format) {
    const box = $("#sticker-error");
    box.hidden = true;
    await busy(button, t("m.downloading"), async () => {
      try {
        await download(api, `/api/v1/merchant/qr?format=${format}`, fileName(format));
      } catch (err) {
        showError(box, err);
      }
    });
  }

  $("#sticker-png").addEventListener("click", (event) => save(event.currentTarget, "png"));
  $("#sticker-svg").addEventListener("click", (event) => save(event.currentTarget, "svg"));

  // The sticker page needs the bearer token, so it is fetched here and opened from a blob.
  // The window is opened within the click, before the fetch, or a pop-up blocker stops it.
  $("#sticker-print").addEventListener("click", async (event) => {
    const box = $("#sticker-error");
    box.hidden = true;
    const opened = window.open("", "_blank");
    await busy(event.currentTarget, t("m.sticker.opening"), async () => {
      try {
        const response = await api.fetchRaw("/api/v1/merchant/qr/sticker", { headers: { Accept: "text/html" } });
        if (!response.ok) throw new ApiError(response.status, await response.json().catch(() => ({})));
        const html = await response.text();
        const url = URL.createObjectURL(new Blob([html], { type: "text/html" }));
        if (opened) {
          opened.location.href = url;
        } else {
          // Pop-ups blocked: a link the person can open themselves.
          box.className = "alert alert-info";
          box.removeAttribute("role");
          box.replaceChildren(h("a", { href: url, target: "_blank", rel: "noopener" }, t("m.sticker.open_link")));
          box.hidden = false;
        }
        setTimeout(() => URL.revokeObjectURL(url), 300_000);
      } catch (err) {
        opened?.close();
        showError(box, err);
      }
    });
  });

  return {
    setShop(value) {
      shop = value;
      $("#sticker-shop").textContent = value.name;
    },
    shown() { if (!loaded) preview(); },
    reset() { loaded = false; shop = null; $("#sticker-qr").replaceChildren(); },
  };
}
