"""EMVCo merchant-presented QR payloads (DESIGN.md 4), JPQR-shaped.

Layout (ID, length, value; lengths count characters, the CRC covers UTF-8 bytes):

    00 "01"                         payload format indicator
    01 "11" static | "12" dynamic   point of initiation
    26 { 00 GUI "jp.machipay", 01 signed merchant token }
    52 MCC · 53 "392" (JPY) · 54 amount (dynamic only) · 58 "JP"
    59 merchant name (Latin, ≤25) · 60 city (≤15) · 61 postal code
    62 { 05 charge reference }      (dynamic only)
    64 { 00 "ja", 01 name in Japanese, 02 city in Japanese }
    63 CRC-16/CCITT-FALSE over everything before its value, 4 uppercase hex digits

The merchant token is ``<public id>.<signature>``: the public id is random (never the
database id) and the signature is an HMAC of it under the server's secret, so a sticker
forged for a made-up or another merchant fails before any database lookup.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from dataclasses import dataclass

from machipay.errors import ValidationFailed

GUI = "jp.machipay"
CURRENCY_JPY = "392"
COUNTRY = "JP"
STATIC, DYNAMIC = "11", "12"
_MANDATORY = ("00", "01", "26", "52", "53", "58", "59", "60", "63")
_TOKEN = re.compile(r"([a-z0-9]{12})\.([A-Z2-7]{26})")


class InvalidQr(ValidationFailed):
    type_slug = "invalid-qr"
    title = "This QR code cannot be used for payment"


def crc16_ccitt_false(data: bytes) -> int:
    """CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, not reflected): EMVCo tag 63.

    ``binascii.crc_hqx`` is exactly this CRC, in C; every scanned code is checked with it.
    """
    return binascii.crc_hqx(data, 0xFFFF)


def _tlv(tag: str, value: str) -> str:
    if not 0 < len(value) <= 99:
        raise ValueError(f"EMVCo value for {tag} must be 1..99 characters, got {len(value)}")
    return f"{tag}{len(value):02d}{value}"


def _parse(text: str, *, where: str) -> list[tuple[str, str]]:
    items, i = [], 0
    while i < len(text):
        tag, length = text[i : i + 2], text[i + 2 : i + 4]
        if len(tag) < 2 or not tag.isdigit() or len(length) < 2 or not length.isdigit():
            raise InvalidQr(f"Malformed data object at character {i} of {where}.")
        end = i + 4 + int(length)
        if end > len(text):
            raise InvalidQr(f"Data object {tag} in {where} runs past the end of the payload.")
        items.append((tag, text[i + 4 : end]))
        i = end
    return items


def sign_token(secret: str, public_id: str) -> str:
    digest = hmac.new(
        secret.encode(), f"machipay-qr:v1:{public_id}".encode(), hashlib.sha256
    ).digest()
    return f"{public_id}.{base64.b32encode(digest[:16]).decode().rstrip('=')}"


def verify_token(secret: str, token: str) -> str:
    """The merchant's public id, if the token was signed with our secret."""
    match = _TOKEN.fullmatch(token)
    if match is None or not hmac.compare_digest(sign_token(secret, match.group(1)), token):
        raise InvalidQr("The QR code was not issued by machipay (bad signature).")
    return match.group(1)


@dataclass(frozen=True, slots=True)
class MerchantQrData:
    public_id: str
    mcc: str
    name_latin: str
    city_latin: str
    postal_code: str
    name_ja: str
    city_ja: str


def build_payload(
    secret: str,
    merchant: MerchantQrData,
    *,
    amount: int | None = None,
    charge_reference: str | None = None,
) -> str:
    dynamic = amount is not None
    parts = [
        _tlv("00", "01"),
        _tlv("01", DYNAMIC if dynamic else STATIC),
        _tlv("26", _tlv("00", GUI) + _tlv("01", sign_token(secret, merchant.public_id))),
        _tlv("52", merchant.mcc),
        _tlv("53", CURRENCY_JPY),
    ]
    if dynamic:
        parts.append(_tlv("54", str(amount)))
    parts += [
        _tlv("58", COUNTRY),
        _tlv("59", merchant.name_latin[:25]),
        _tlv("60", merchant.city_latin[:15]),
        _tlv("61", merchant.postal_code),
    ]
    if dynamic:
        if not charge_reference:
            raise ValueError("a dynamic QR needs its charge reference")
        parts.append(_tlv("62", _tlv("05", charge_reference)))
    parts.append(
        _tlv(
            "64",
            _tlv("00", "ja")
            + _tlv("01", merchant.name_ja[:25])
            + _tlv("02", merchant.city_ja[:15]),
        )
    )
    body = "".join(parts) + "6304"
    return body + f"{crc16_ccitt_false(body.encode('utf-8')):04X}"


@dataclass(frozen=True, slots=True)
class ParsedQr:
    merchant_public_id: str
    dynamic: bool
    amount: int | None
    charge_reference: str | None
    mcc: str


def parse_payload(secret: str, payload: str) -> ParsedQr:
    """Check structure, CRC, GUI and signature; the caller checks the merchant and charge."""
    if len(payload) < 8 or len(payload) > 512:
        raise InvalidQr("This is not a machipay payment code.")
    stated = payload[-4:]
    if payload[-8:-4] != "6304":
        raise InvalidQr("The checksum must be the last data object.")
    if not re.fullmatch(r"[0-9A-F]{4}", stated):
        raise InvalidQr("The checksum must be four uppercase hexadecimal digits.")
    if f"{crc16_ccitt_false(payload[:-4].encode('utf-8')):04X}" != stated:
        raise InvalidQr("The checksum does not match: the code is damaged or altered.")
    items = _parse(payload, where="the payload")
    tags = [tag for tag, _ in items]
    duplicated = sorted({t for t in tags if tags.count(t) > 1})
    if duplicated:
        raise InvalidQr(f"Data object(s) {', '.join(duplicated)} appear more than once.")
    values = dict(items)
    missing = [t for t in _MANDATORY if t not in values]
    if missing:
        raise InvalidQr(f"Mandatory data object(s) {', '.join(missing)} are missing.")
    if values["00"] != "01" or values["01"] not in (STATIC, DYNAMIC):
        raise InvalidQr("Unsupported payload format or point of initiation.")
    if values["53"] != CURRENCY_JPY or values["58"] != COUNTRY:
        raise InvalidQr("Only yen payments in Japan are accepted.")
    account = dict(_parse(values["26"], where="template 26"))
    if account.get("00") != GUI:
        raise InvalidQr("This QR code belongs to another payment scheme.")
    public_id = verify_token(secret, account.get("01", ""))
    dynamic = values["01"] == DYNAMIC
    amount = reference = None
    if dynamic:
        if "54" not in values or "62" not in values:
            raise InvalidQr("A dynamic code needs an amount and a charge reference.")
        if not re.fullmatch(r"[1-9][0-9]{0,8}", values["54"]):
            raise InvalidQr("The amount must be whole yen.")
        amount = int(values["54"])
        reference = dict(_parse(values["62"], where="template 62")).get("05")
        if not reference:
            raise InvalidQr("A dynamic code needs a charge reference.")
    elif "54" in values:
        raise InvalidQr("A static code carries no amount.")
    return ParsedQr(public_id, dynamic, amount, reference, values["52"])
