"""A fake camera for Chromium: a QR code drawn on a white frame, written as a .y4m video.

Chromium plays the file as the camera (``--use-file-for-fake-video-capture``), so the app's
real getUserMedia → canvas → jsQR path runs in CI. The format is YUV4MPEG2 with 4:2:0
chroma: per frame ``FRAME\\n`` then the Y plane (W×H bytes) and the Cb and Cr planes
(each W/2 × H/2 bytes).
"""

from __future__ import annotations

from pathlib import Path

import qrcode
from PIL import Image

WIDTH, HEIGHT = 640, 480


def qr_frame(payload: str, *, width: int = WIDTH, height: int = HEIGHT) -> Image.Image:
    """The payload's QR (UTF-8, error correction M) centred on a white canvas."""
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=4)
    code.add_data(payload.encode("utf-8"))
    code.make(fit=True)
    image = code.make_image(fill_color="black", back_color="white").get_image().convert("RGB")
    side = min(width, height) - 40
    image = image.resize((side, side), Image.Resampling.NEAREST)
    canvas = Image.new("RGB", (width, height), "white")
    canvas.paste(image, ((width - side) // 2, (height - side) // 2))
    return canvas


def write_y4m(frame: Image.Image, path: Path, *, frames: int = 20, fps: int = 10) -> Path:
    width, height = frame.size
    y, cb, cr = frame.convert("YCbCr").split()
    half = (width // 2, height // 2)
    planes = (
        y.tobytes()
        + cb.resize(half, Image.Resampling.BILINEAR).tobytes()
        + cr.resize(half, Image.Resampling.BILINEAR).tobytes()
    )
    with path.open("wb") as out:
        out.write(f"YUV4MPEG2 W{width} H{height} F{fps}:1 Ip A1:1 C420jpeg\n".encode("ascii"))
        for _ in range(frames):
            out.write(b"FRAME\n")
            out.write(planes)
    return path


def qr_video(payload: str, path: Path) -> Path:
    """A short .y4m showing the payload's QR code, for ``launch_with_camera``."""
    return write_y4m(qr_frame(payload), path)
