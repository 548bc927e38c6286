// The phone's back camera as a QR reader: frames are drawn onto a canvas and decoded with
// the vendored jsQR (loaded as a classic script: window.jsQR).

/** Why the camera could not be used, as a message key suffix: denied | missing | unavailable. */
export function cameraFailure(error) {
  if (error?.name === "NotAllowedError" || error?.name === "SecurityError") return "denied";
  if (error?.name === "NotFoundError" || error?.name === "OverconstrainedError") return "missing";
  return "unavailable";
}

/** Start the back camera into `video`; returns the stream (stop it with stopCamera). */
export async function startCamera(video) {
  if (!navigator.mediaDevices?.getUserMedia) {
    throw Object.assign(new Error("getUserMedia is not available"), { name: "NotSupportedError" });
  }
  const stream = await navigator.mediaDevices.getUserMedia({
    video: { facingMode: "environment", width: { ideal: 1280 }, height: { ideal: 720 } },
    audio: false,
  });
  video.srcObject = stream;
  await video.play().catch(() => { /* autoplay may wait for the first frame; frames still arrive */ });
  return stream;
}

export function stopCamera(video, stream) {
  for (const track of stream?.getTracks() ?? []) track.stop();
  if (video) video.srcObject = null;
}

/**
 * Decode frames every `interval` ms until stopped; calls onCode(text) for each QR seen.
 * Big frames are scaled down first: jsQR's time grows with the pixel count.
 */
export function scanFrames(video, onCode, { interval = 150, maxSide = 720 } = {}) {
  const canvas = document.createElement("canvas");
  const context = canvas.getContext("2d", { willReadFrequently: true });
  let timer = null;
  let stopped = false;
  let paused = false;

  function tick() {
    if (stopped) return;
    if (!paused && video.readyState >= video.HAVE_CURRENT_DATA && video.videoWidth) {
      const scale = Math.min(1, maxSide / Math.max(video.videoWidth, video.videoHeight));
      const width = Math.round(video.videoWidth * scale);
      const height = Math.round(video.videoHeight * scale);
      if (canvas.width !== width) canvas.width = width;
      if (canvas.height !== height) canvas.height = height;
      context.drawImage(video, 0, 0, width, height);
      const found = window.jsQR(context.getImageData(0, 0, width, height).data, width, height, {
        inversionAttempts: "dontInvert",
      });
      if (found?.data) onCode(found.data);
    }
    timer = setTimeout(tick, interval);
  }
  timer = setTimeout(tick, 0); // after the caller holds the handle onCode may use
  return {
    pause(value) { paused = value; },
    stop() { stopped = true; clearTimeout(timer); },
  };
}
