// Scan to pay: the back camera reads the shop's QR, the server says whose it is, and the
// confirm screen shows that shop before any money moves. A pasted code does the same
// for phones without a camera (or when permission is refused).
import { h, showError, t } from "/static/js/core.js";
import { cameraFailure, scanFrames, startCamera, stopCamera } from "./camera.js";
import { busyWhile, errorBox, field, screen } from "./ui.js";

const RETRY_SAME_CODE_MS = 4000;

/** Ask the server who a code pays; on success hand it to the confirm screen. */
async function resolveAndConfirm(app, payload) {
  const resolved = await app.api.post("/api/v1/qr/resolve", { payload });
  app.pendingPayment = { payload, resolved };
  app.go("pay");
}

export function render(root, app, scope) {
  const video = h("video", { id: "scan-video", muted: true, playsinline: true, autoplay: true, "aria-hidden": "true" });
  video.muted = true;
  const status = h("p", { id: "scan-status", class: "scan-status", role: "status" }, t("app.scan.starting"));
  const camera = h("div", { class: "camera", id: "camera" }, video, h("div", { class: "frame", "aria-hidden": "true" }));
  const problem = errorBox("scan-error");

  const payloadInput = h("textarea", { id: "manual-payload", rows: 3, autocomplete: "off", spellcheck: "false", required: true });
  const manualButton = h("button", { class: "btn btn-secondary btn-block", type: "submit", id: "manual-submit" }, t("app.scan.manual_submit"));
  const manualForm = h("form", { novalidate: true }, field(payloadInput, "app.scan.manual_label", { hint: t("app.scan.manual_hint") }), manualButton);
  const manual = h("details", { class: "card manual", id: "manual-entry" },
    h("summary", {}, t("app.scan.manual_title")), manualForm);

  const steps = h("section", { class: "card how-to-pay", "aria-labelledby": "how-to-pay-title" },
    h("h2", { id: "how-to-pay-title" }, t("app.scan.steps_title")),
    h("ol", {}, ["1", "2", "3"].map((n) => h("li", {}, t(`app.scan.step${n}`)))));
  root.append(screen("app.scan.title",
    h("p", { class: "muted" }, t("app.scan.lead")),
    h("div", { class: "scan-layout" },
      h("div", {}, camera, status),
      h("div", {}, problem, manual, steps))));

  let stream = null;
  let scanner = null;
  let lastRefused = { payload: "", at: 0 };
  scope.onLeave(() => { scanner?.stop(); stopCamera(video, stream); stream = null; });

  manualForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const payload = payloadInput.value.trim();
    problem.hidden = true;
    if (!payload) { showError(problem, t("app.scan.manual_empty")); payloadInput.focus(); return; }
    try {
      await busyWhile(manualButton, "app.scan.checking", () => resolveAndConfirm(app, payload));
    } catch (error) {
      showError(problem, error);
    }
  });

  async function onCode(payload) {
    if (payload === lastRefused.payload && Date.now() - lastRefused.at < RETRY_SAME_CODE_MS) return;
    scanner.pause(true);
    status.textContent = t("app.scan.checking");
    problem.hidden = true;
    try {
      await resolveAndConfirm(app, payload);
    } catch (error) {
      if (scope.left) return;
      lastRefused = { payload, at: Date.now() };
      showError(problem, error);
      status.textContent = t("app.scan.looking");
      scanner.pause(false);
    }
  }

  (async () => {
    try {
      stream = await startCamera(video);
    } catch (error) {
      if (scope.left) return;
      camera.hidden = true;
      status.textContent = "";
      status.hidden = true;
      showError(problem, t(`app.scan.camera_${cameraFailure(error)}`));
      manual.open = true;
      return;
    }
    if (scope.left) { stopCamera(video, stream); return; }
    status.textContent = t("app.scan.looking");
    camera.classList.add("live");
    scanner = scanFrames(video, onCode);
  })();
}
