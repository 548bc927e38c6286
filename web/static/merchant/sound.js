// A short chime when a payment arrives. Off until the user turns it on: browsers only let
// a page make sound after a click, so the AudioContext is made (or resumed) in that click.

import { t } from "/static/js/core.js";

const STORAGE_KEY = "machipay.merchant.sound";

export function setupSound(button) {
  let context = null;
  let on = localStorage.getItem(STORAGE_KEY) === "on";

  function ensureContext() {
    const Audio = window.AudioContext || window.webkitAudioContext;
    if (!Audio) return null;
    context ??= new Audio();
    if (context.state === "suspended") context.resume().catch(() => {});
    return context;
  }

  function reflect() {
    button.setAttribute("aria-pressed", String(on));
    button.title = on ? t("m.sound.on") : t("m.sound.off");
    button.classList.toggle("is-on", on);
  }

  function tone(audio, frequency, start, length) {
    const oscillator = audio.createOscillator();
    const gain = audio.createGain();
    oscillator.type = "sine";
    oscillator.frequency.value = frequency;
    gain.gain.setValueAtTime(0.0001, start);
    gain.gain.exponentialRampToValueAtTime(0.25, start + 0.02);
    gain.gain.exponentialRampToValueAtTime(0.0001, start + length);
    oscillator.connect(gain).connect(audio.destination);
    oscillator.start(start);
    oscillator.stop(start + length + 0.02);
  }

  button.addEventListener("click", () => {
    on = !on;
    localStorage.setItem(STORAGE_KEY, on ? "on" : "off");
    reflect();
    if (on) beep();
  });
  // Remembered as on from an earlier visit: the first click anywhere unlocks the audio.
  document.addEventListener("pointerdown", () => { if (on) ensureContext(); }, { once: true });
  reflect();

  function beep() {
    if (!on) return;
    const audio = ensureContext();
    if (!audio || audio.state !== "running") return;
    const now = audio.currentTime;
    tone(audio, 880, now, 0.12);
    tone(audio, 1320, now + 0.13, 0.18);
  }

  return { beep };
}
