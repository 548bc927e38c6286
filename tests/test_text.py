"""The edge normaliser: numbers as a Japanese IME types them."""

from __future__ import annotations

import pytest

from machipay.phone import normalize_phone
from machipay.text import nfkc_digits


@pytest.mark.parametrize(
    ("typed", "digits"),
    [
        ("０８０ー５５５５ー０１０１", "08055550101"),  # full-width digits, long-vowel mark
        ("０８０－５５５５－０１０１", "08055550101"),  # full-width hyphen-minus
        ("080ｰ5555ｰ0101", "08055550101"),  # half-width katakana prolonged mark
        ("080‐5555—0101", "08055550101"),  # Unicode hyphen and em dash
        ("080−5555〜0101", "08055550101"),  # minus sign, wave dash
        ("＋８１　９０　１２３４　５６７８", "+819012345678"),  # ideographic spaces
        ("９８１２ ３４５６ ７８９０ １２３４ ５６", "981234567890123456"),
        ("12a4", "12a4"),  # other characters stay for validation to refuse
    ],
)
def test_numbers_typed_by_an_ime_become_ascii_digits(typed: str, digits: str) -> None:
    assert nfkc_digits(typed) == digits


@pytest.mark.parametrize(
    "typed",
    [
        "０８０ー５５５５ー０１０１",
        "080ｰ5555ｰ0101",
        "＋８１　８０ー５５５５ー０１０１",
        "08055550101",
    ],
)
def test_phone_numbers_in_any_width_are_one_e164(typed: str) -> None:
    assert normalize_phone(typed) == "+818055550101"
