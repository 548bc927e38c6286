"""The EMVCo payload: accepted by an independent parser and decoder, forgeries refused."""

from __future__ import annotations

import io

import cemacqr
import pytest
import qrcode
import zxingcpp
from PIL import Image

from merchant_api.qr import (
    InvalidQr,
    MerchantQrData,
    build_payload,
    crc16_ccitt_false,
    parse_payload,
    sign_token,
)

SECRET = "test-secret-for-qr-0123456789abcdef"
SHOP = MerchantQrData(
    "ab12cd34ef56", "5411", "SHIMOKITAZAWA YAOYA", "SETAGAYA", "1550031", "下北沢八百屋", "世田谷区"
)


def with_crc(body_without_crc: str) -> str:
    body = body_without_crc + "6304"
    return body + f"{crc16_ccitt_false(body.encode('utf-8')):04X}"


def strip_crc(payload: str) -> str:
    return payload[:-8]


@pytest.mark.parametrize("dynamic", [False, True])
def test_an_independent_emvco_parser_accepts_our_payloads(dynamic: bool) -> None:
    payload = (
        build_payload(SECRET, SHOP, amount=1500, charge_reference="ch1234")
        if dynamic
        else build_payload(SECRET, SHOP)
    )
    parsed = cemacqr.parse_payload(payload)
    assert parsed.crc_ok
    report = cemacqr.validate(parsed)
    assert report.ok, report
    ours = parse_payload(SECRET, payload)
    assert (ours.merchant_public_id, ours.dynamic, ours.amount) == (
        "ab12cd34ef56",
        dynamic,
        1500 if dynamic else None,
    )


def test_the_png_decodes_back_to_the_payload_with_an_independent_decoder() -> None:
    payload = build_payload(SECRET, SHOP)
    qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=4)
    qr.add_data(payload.encode("utf-8"))
    buffer = io.BytesIO()
    qr.make_image().save(buffer)
    decoded = zxingcpp.read_barcodes(Image.open(io.BytesIO(buffer.getvalue())))
    assert [d.text for d in decoded] == [payload]


def test_crc_is_ccitt_false() -> None:
    assert f"{crc16_ccitt_false(b'123456789'):04X}" == "29B1"


def _refused(payload: str, match: str) -> None:
    with pytest.raises(InvalidQr, match=match):
        parse_payload(SECRET, payload)


def test_bad_and_lowercase_crc_are_refused() -> None:
    payload = build_payload(SECRET, SHOP)
    wrong = payload[:-4] + ("0000" if payload[-4:] != "0000" else "1111")
    _refused(wrong, "checksum does not match")
    lower = payload[:-4] + payload[-4:].lower()
    if lower != payload:
        _refused(lower, "uppercase")
    _refused(payload[:-4] + "12G4", "uppercase")


def test_a_flipped_character_with_a_recomputed_crc_is_refused() -> None:
    body = strip_crc(build_payload(SECRET, SHOP))
    i = body.index("ab12cd34ef56")
    flipped = body[:i] + "b" + body[i + 1 :]  # points the token at another merchant id
    _refused(with_crc(flipped), "bad signature")


def test_a_token_signed_with_another_key_is_refused() -> None:
    forged = build_payload("an-attackers-own-key-0123456789abc", SHOP)
    assert cemacqr.parse_payload(forged).crc_ok  # structurally perfect...
    _refused(forged, "bad signature")  # ...but not ours


def test_pointing_a_genuine_signature_at_another_merchant_is_refused() -> None:
    genuine = sign_token(SECRET, "ab12cd34ef56")
    other = "zz99yy88xx77." + genuine.split(".")[1]
    body = strip_crc(build_payload(SECRET, SHOP)).replace(genuine, other)
    _refused(with_crc(body), "bad signature")


def test_unknown_gui_is_refused() -> None:
    body = strip_crc(build_payload(SECRET, SHOP)).replace("0011jp.machipay", "0011jp.otherpay")
    _refused(with_crc(body), "another payment scheme")


@pytest.mark.parametrize("tag", ["52", "53", "58", "59", "60"])
def test_missing_mandatory_tags_are_refused(tag: str) -> None:
    body = strip_crc(build_payload(SECRET, SHOP))
    i = 0
    while i < len(body):
        t, length = body[i : i + 2], int(body[i + 2 : i + 4])
        if t == tag:
            body = body[:i] + body[i + 4 + length :]
            break
        i += 4 + length
    _refused(with_crc(body), "missing")


def test_duplicated_tags_are_refused() -> None:
    body = strip_crc(build_payload(SECRET, SHOP))
    _refused(with_crc(body + "5802JP"), "more than once")


def test_lengths_that_overrun_are_refused() -> None:
    body = strip_crc(build_payload(SECRET, SHOP))
    _refused(with_crc(body + "6299short"), "runs past the end")


def test_a_static_code_with_an_amount_and_a_dynamic_code_without_one_are_refused() -> None:
    static = strip_crc(build_payload(SECRET, SHOP))
    _refused(with_crc(static.replace("5303392", "53033925403100")), "static code carries no amount")
    dynamic = strip_crc(build_payload(SECRET, SHOP, amount=900, charge_reference="ch1"))
    _refused(with_crc(dynamic.replace("5403900", "")), "amount and a charge reference")


def test_garbage_is_refused() -> None:
    for payload in ("", "hello", "0" * 600, "00020101021263041234"):
        with pytest.raises(InvalidQr):
            parse_payload(SECRET, payload)
