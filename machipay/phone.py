"""Phone numbers: residents are known by their Japanese phone number in E.164."""

from __future__ import annotations

import phonenumbers

from machipay.text import nfkc_digits


def normalize_phone(raw: str) -> str:
    """``090-1234-5678``, ``+81 90 1234 5678`` or ``０９０ー１２３４ー５６７８`` (as an IME types
    it) → ``+819012345678``; ValueError if not JP."""
    try:
        parsed = phonenumbers.parse(nfkc_digits(raw), "JP")
    except phonenumbers.NumberParseException as exc:
        raise ValueError("not a phone number") from exc
    if parsed.country_code != 81 or not phonenumbers.is_valid_number(parsed):
        raise ValueError("not a valid Japanese phone number")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def mask_phone(e164: str) -> str:
    """Show a counterparty's number without revealing it: +81 90-****-5678."""
    national = "0" + e164.removeprefix("+81")
    return f"{national[:3]}-****-{national[-4:]}"
