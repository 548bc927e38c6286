"""Text as people type it: NFKC, and the separators a Japanese IME puts into numbers.

An IME in full-width mode types ``０８０ー５５５５ー０１０１``: full-width digits (NFKC maps them
to ASCII) and the long-vowel mark ``ー`` (U+30FC) as a hyphen, which NFKC keeps as it is.
Every phone, number and code field goes through :func:`nfkc_digits` at the edge, so what a
resident typed at registration and what they type at sign-in compare equal.
"""

from __future__ import annotations

import re
import unicodedata

# Hyphens and dashes of every width people use between groups of digits, after NFKC (which
# already maps the full-width hyphen-minus U+FF0D to "-" and the half-width ｰ to ー):
# hyphen-minus, the Unicode hyphens and dashes U+2010..U+2015, minus sign U+2212, small
# hyphen-minus U+FE63, the long-vowel mark U+30FC and wave dash U+301C / tilde, which IMEs
# offer for "-" too.
_SEPARATORS = re.compile(r"[\s\-\u2010-\u2015\u2212\u2043\ufe63\u30fc\u301c~]+")


def nfkc(text: str) -> str:
    """Compatibility-normalised text: full-width letters and digits become ASCII."""
    return unicodedata.normalize("NFKC", text)


def nfkc_digits(text: str) -> str:
    """A number as typed (phone, code, account number) with its separators removed:
    ``０８０ー５５５５ー０１０１`` → ``08055550101``. Other characters are kept, so that
    validation further on can still refuse them."""
    return _SEPARATORS.sub("", nfkc(text))
