"""Keyed hashes in place of identities.

A resident's pseudonym is HMAC-SHA256 under a key derived for the period (a calendar
month in Tokyo) from ``MACHIPAY_ANALYTICS_PSEUDONYM_SECRET``; the secret never enters the
analytics tables, and one month's pseudonyms cannot be linked to another's. A shop's key
is stable: it is used only inside disclosure control (the dominance rule) and never shown.

A resident's person key is stable too, under a key of its own derived from the same
secret: without it a resident active in ten months would count as ten people, and a cell
spanning months could hold fewer than k residents while looking like more. Like the shop
key it is used only inside disclosure control and the differencing guard (counting
distinct people over a query's window); no API outputs it.
"""

from __future__ import annotations

import hashlib
import hmac


def _mac(key: bytes, message: str) -> str:
    return hmac.new(key, message.encode(), hashlib.sha256).hexdigest()[:32]


def period_key(secret: str, period: str) -> bytes:
    return hmac.new(secret.encode(), f"resident-period:{period}".encode(), hashlib.sha256).digest()


def resident_pseudonym(secret: str, period: str, resident_id: int) -> str:
    return _mac(period_key(secret, period), str(resident_id))


def person_key(secret: str) -> bytes:
    return hmac.new(secret.encode(), b"resident-person", hashlib.sha256).digest()


def resident_person(secret: str, resident_id: int) -> str:
    return _mac(person_key(secret), str(resident_id))


def merchant_pseudonym(secret: str, merchant_id: int) -> str:
    return _mac(secret.encode(), f"merchant:{merchant_id}")
