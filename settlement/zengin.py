"""The Zengin 総合振込 (bulk transfer) file: the layout of ``shared/docs/ZENGIN.md``.

Fixed-length records of exactly 120 bytes in Shift_JIS (cp932), each followed by CRLF:
a header (1), one data record per payout (2), a trailer with the count and total (8) and
an end record (9). Names go in half-width katakana; banks take only a small character
set (:mod:`machipay.zengin_kana`), so anything outside it is refused here (and at
onboarding), never dropped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from machipay.zengin_kana import ZenginError, to_zengin_kana

RECORD_BYTES = 120
ENCODING = "cp932"
ACCOUNT_TYPE_CODES = {"ordinary": "1", "current": "2", "savings": "4"}
MAX_AMOUNT = 9_999_999_999  # ten digits


@dataclass(frozen=True, slots=True)
class Originator:
    """The operator (依頼人): who sends the transfers, from which account."""

    client_code: str
    name: str
    bank_code: str
    bank_name: str
    branch_code: str
    branch_name: str
    account_type: str  # ordinary | current
    account_number: str


@dataclass(frozen=True, slots=True)
class Transfer:
    """One data record: a payout to a shop's account."""

    bank_code: str
    branch_code: str
    account_type: str  # ordinary | current | savings
    account_number: str
    account_name: str
    amount: int
    customer_code_1: str  # our payout id, to match the bank's result
    customer_code_2: str = ""


def _text(value: str, width: int, field: str) -> str:
    encoded = value.encode(ENCODING)
    if len(encoded) > width:
        raise ZenginError(f"{field} {value!r} is longer than {width} bytes")
    return value + " " * (width - len(encoded))


def _digits(value: str | int, width: int, field: str) -> str:
    text = str(value)
    # ASCII only: str.isdigit() also takes ０-９ and other scripts' digits, which are two
    # bytes in cp932 (or none at all) and would break the fixed-width record.
    if not (text.isascii() and text.isdigit()) or len(text) > width:
        raise ZenginError(f"{field} {value!r} is not {width} digits")
    return text.zfill(width)


def _kana(value: str, width: int, field: str) -> str:
    return _text(to_zengin_kana(value), width, field)


def _account_type(value: str, field: str) -> str:
    if value not in ACCOUNT_TYPE_CODES:
        raise ZenginError(f"{field} {value!r} is not one of {', '.join(ACCOUNT_TYPE_CODES)}")
    return ACCOUNT_TYPE_CODES[value]


def header_record(origin: Originator, transfer_date: date) -> str:
    return (
        "1"
        + "21"  # 総合振込
        + "0"  # SJIS
        + _digits(origin.client_code, 10, "client code")
        + _kana(origin.name, 40, "client name")
        + transfer_date.strftime("%m%d")
        + _digits(origin.bank_code, 4, "bank code")
        + _kana(origin.bank_name, 15, "bank name")
        + _digits(origin.branch_code, 3, "branch code")
        + _kana(origin.branch_name, 15, "branch name")
        + _account_type(origin.account_type, "account type")
        + _digits(origin.account_number, 7, "account number")
        + " " * 17
    )


def data_record(transfer: Transfer) -> str:
    if not 0 < transfer.amount <= MAX_AMOUNT:
        raise ZenginError(f"amount {transfer.amount} is not a payable transfer")
    return (
        "2"
        + _digits(transfer.bank_code, 4, "bank code")
        + " " * 15  # bank name: optional, the code decides
        + _digits(transfer.branch_code, 3, "branch code")
        + " " * 15  # branch name
        + " " * 4  # 手形交換所番号
        + _account_type(transfer.account_type, "account type")
        + _digits(transfer.account_number, 7, "account number")
        + _kana(transfer.account_name, 30, "account name")
        + _digits(transfer.amount, 10, "amount")
        + "0"  # 新規コード
        + _text(transfer.customer_code_1, 10, "customer code 1")
        + _text(transfer.customer_code_2, 10, "customer code 2")
        + "7"  # テレ振込
        + " "  # 識別表示
        + " " * 7
    )


def trailer_record(count: int, total: int) -> str:
    return "8" + _digits(count, 6, "count") + _digits(total, 12, "total") + " " * 101


def end_record() -> str:
    return "9" + " " * 119


def render_file(origin: Originator, transfer_date: date, transfers: Sequence[Transfer]) -> bytes:
    """The whole file: every record exactly 120 bytes of cp932, CRLF after each."""
    records = [header_record(origin, transfer_date)]
    records += [data_record(t) for t in transfers]
    records.append(trailer_record(len(transfers), sum(t.amount for t in transfers)))
    records.append(end_record())
    out = bytearray()
    for record in records:
        encoded = record.encode(ENCODING)
        if len(encoded) != RECORD_BYTES:  # a layout bug, never a data problem
            raise AssertionError(f"record of {len(encoded)} bytes: {record!r}")
        out += encoded + b"\r\n"
    return bytes(out)
