"""The banks' character set: how a name is written in a Zengin file (全銀協 half-width kana).

Shop onboarding (merchant_api) refuses a bank account name that cannot be written; the
payout file (settlement) writes it. Both use this one conversion, so a name accepted at
onboarding can always be paid.
"""

from __future__ import annotations

import unicodedata

# Half-width katakana by their full-width form (the table NFKC itself uses, reversed).
_HALF_BY_FULL = {
    unicodedata.normalize("NFKC", chr(code)): chr(code) for code in range(0xFF66, 0xFF9E)
}
# Banks take no small kana: ャュョッ are written ヤユヨツ (and so on).
_LARGE_BY_SMALL = str.maketrans("ァィゥェォャュョッヮヵヶヰヱ", "アイウエオヤユヨツワカケイエ")
_VOICED = {"\u3099": "\uff9e", "\u309a": "\uff9f"}  # combining (han)dakuten → ﾞ ﾟ
_ALLOWED_ASCII = set("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ ().,-/")


class ZenginError(ValueError):
    """A value that cannot be written in a Zengin file."""


def to_zengin_kana(text: str) -> str:
    """Full-width or half-width kana, latin letters and digits → the banks' half-width set.

    Hiragana becomes katakana, small kana become large, ー becomes '-', letters are
    uppercased; anything else (kanji, emoji, ＠…) raises :class:`ZenginError`.
    """
    normalized = unicodedata.normalize("NFKC", text).upper().replace("ー", "-")
    katakana = "".join(
        chr(ord(ch) + 0x60) if "ぁ" <= ch <= "ゖ" else ch for ch in normalized
    ).translate(_LARGE_BY_SMALL)
    out: list[str] = []
    for ch in unicodedata.normalize("NFD", katakana):
        if ch in _ALLOWED_ASCII:
            out.append(ch)
        elif ch in _VOICED:
            out.append(_VOICED[ch])
        elif ch in _HALF_BY_FULL:
            out.append(_HALF_BY_FULL[ch])
        else:
            raise ZenginError(f"{ch!r} cannot be written in a Zengin file")
    return "".join(out)
