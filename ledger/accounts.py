"""The chart of accounts (DESIGN.md 3.1): names, sides, and which accounts are protected or hot.

An account is named by a code such as ``resident:42:money``. The code's shape decides its
properties, so no caller can open a resident wallet that is allowed to go negative.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

Side = Literal["debit", "credit"]

BANK_SETTLEMENT = "bank:settlement"
BANK_CITY = "bank:city"
PLATFORM_FEES = "platform:fees"
SYSTEM_ACCOUNTS = (BANK_SETTLEMENT, BANK_CITY, PLATFORM_FEES)

_ID = r"[A-Za-z0-9_-]{1,64}"


@dataclass(frozen=True)
class AccountSpec:
    kind: Literal["asset", "liability", "income"]
    normal_side: Side
    non_negative: bool
    # Hot accounts take postings that raise their balance without locking their row:
    # every payment credits a merchant payable, every top-up debits the trust account.
    hot: bool
    # Debits were reserved beforehand by the account's owner (a campaign budget is split
    # into shards with a conditional UPDATE, DESIGN.md 3.3), so the ledger takes them
    # without the exclusive lock that would make every reward of a campaign queue.
    # `machipay verify` still proves the account never went below zero.
    debits_reserved: bool = False


_SPECS: list[tuple[re.Pattern[str], AccountSpec]] = [
    (re.compile(r"bank:settlement"), AccountSpec("asset", "debit", True, True)),
    (re.compile(r"bank:city"), AccountSpec("asset", "debit", True, False)),
    (re.compile(rf"resident:{_ID}:money"), AccountSpec("liability", "credit", True, False)),
    (re.compile(rf"resident:{_ID}:points"), AccountSpec("liability", "credit", True, False)),
    # A closed wallet's money on its way to the resident's bank account (the ward's refund
    # procedure on service termination, 資金決済法 Art. 20).
    (re.compile(rf"resident:{_ID}:refund"), AccountSpec("liability", "credit", True, False)),
    (re.compile(rf"merchant:{_ID}:payable"), AccountSpec("liability", "credit", True, True)),
    (re.compile(rf"merchant:{_ID}:payout"), AccountSpec("liability", "credit", True, False)),
    (
        re.compile(rf"campaign:{_ID}:budget"),
        AccountSpec("liability", "credit", True, True, debits_reserved=True),
    ),
    (re.compile(rf"campaign:{_ID}:breakage"), AccountSpec("income", "credit", True, False)),
    # A benefit's grants are reserved by its recipient list (one grant per recipient, unique
    # in benefit_grants, budget = points × recipients), so a run of thousands of grants
    # takes no exclusive lock on the budget; `machipay verify` checks the reservation.
    (
        re.compile(rf"benefit:{_ID}:budget"),
        AccountSpec("liability", "credit", True, True, debits_reserved=True),
    ),
    (re.compile(rf"benefit:{_ID}:breakage"), AccountSpec("income", "credit", True, False)),
    (re.compile(r"platform:fees"), AccountSpec("income", "credit", True, False)),
]


def spec_for(code: str) -> AccountSpec:
    for pattern, spec in _SPECS:
        if pattern.fullmatch(code):
            return spec
    raise ValueError(f"{code!r} is not an account of the chart of accounts")


def resident_money(resident_id: int | str) -> str:
    return f"resident:{resident_id}:money"


def resident_points(resident_id: int | str) -> str:
    return f"resident:{resident_id}:points"


def resident_refund(resident_id: int | str) -> str:
    return f"resident:{resident_id}:refund"


def merchant_payable(merchant_id: int | str) -> str:
    return f"merchant:{merchant_id}:payable"


def merchant_payout(merchant_id: int | str) -> str:
    return f"merchant:{merchant_id}:payout"


def campaign_budget(campaign_id: int | str) -> str:
    return f"campaign:{campaign_id}:budget"


def campaign_breakage(campaign_id: int | str) -> str:
    return f"campaign:{campaign_id}:breakage"


def benefit_budget(benefit_id: int | str) -> str:
    return f"benefit:{benefit_id}:budget"


def benefit_breakage(benefit_id: int | str) -> str:
    return f"benefit:{benefit_id}:breakage"
