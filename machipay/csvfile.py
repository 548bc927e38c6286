"""CSV files the ward's staff upload: bounded in bytes, UTF-8 (with or without the BOM
Excel writes) or Shift_JIS (cp932, what Japanese Excel saves as "CSV")."""

from __future__ import annotations

from machipay.errors import ValidationFailed


def decode_csv(raw: bytes, *, max_bytes: int) -> str:
    """The file's text: UTF-8 first (a cp932 file is almost never valid UTF-8), else cp932."""
    if len(raw) > max_bytes:
        raise ValidationFailed(f"The file is larger than {max_bytes // (1024 * 1024)} MB.")
    for encoding in ("utf-8-sig", "cp932"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise ValidationFailed("The file must be CSV in UTF-8 or Shift_JIS.")
