"""Each wallet's funding references: a virtual bank account and a convenience-store number.

A bank transfer names its wallet by the account it is sent to (振込専用口座: 7 digits at the
operator's receiving branch, one per wallet); a convenience-store payment by a 12-digit
number (11 random digits and a Luhn check digit, so a till can refuse a mistyped one before
taking the cash). Both are random, drawn once per wallet and kept: the numbers are neither
derived from the wallet id nor the id from them, and one saved in a banking app keeps naming
the same wallet. They are allocated on first use (the funding screen, the CLI), so wallets
created in bulk need no pass over them.
"""

from __future__ import annotations

import secrets

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from machipay.errors import NotFound, ServiceUnavailable
from machipay.timeutil import utcnow
from wallet_api.models import FundingReference, Resident

VIRTUAL_ACCOUNT_DIGITS = 7
KONBINI_DIGITS = 12
# A draw collides with a taken number at most (wallets / 10^7) of the time: with 180,000
# wallets, 1.8 %; five failures in a row mean something else is wrong.
_DRAWS = 5


class FundingReferenceUnknown(NotFound):
    """The network should not keep the money: no wallet will ever be credited by this
    reference, so it returns the payment to the payer (組戻し / 返金)."""

    type_slug = "funding-reference-unknown"
    title = "No wallet has this funding reference"


def luhn_digit(digits: str) -> str:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 0:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return str((10 - total % 10) % 10)


def konbini_number_is_well_formed(number: str) -> bool:
    return (
        len(number) == KONBINI_DIGITS
        and number.isascii()
        and number.isdigit()
        and luhn_digit(number[:-1]) == number[-1]
    )


def _draw() -> tuple[str, str]:
    account = f"{secrets.randbelow(10**VIRTUAL_ACCOUNT_DIGITS):0{VIRTUAL_ACCOUNT_DIGITS}d}"
    body = f"{secrets.randbelow(10 ** (KONBINI_DIGITS - 1)):0{KONBINI_DIGITS - 1}d}"
    return account, body + luhn_digit(body)


async def funding_references(session: AsyncSession, resident_id: int) -> FundingReference:
    """The wallet's references, drawn the first time they are asked for.

    ``ON CONFLICT DO NOTHING`` with no target absorbs both races: two first requests of the
    same wallet (the second finds the first's row), and a drawn number that another wallet
    already holds (nothing is inserted; draw again)."""
    for _ in range(_DRAWS):
        found = await session.get(FundingReference, resident_id, populate_existing=True)
        if found is not None:
            return found
        account, konbini = _draw()
        await session.execute(
            insert(FundingReference)
            .values(
                resident_id=resident_id,
                virtual_account=account,
                konbini_number=konbini,
                created_at=utcnow(),
            )
            .on_conflict_do_nothing()
        )
    found = await session.get(FundingReference, resident_id, populate_existing=True)
    if found is None:
        raise ServiceUnavailable("No free funding reference could be drawn; try again.")
    return found


async def wallet_for_reference(
    session: AsyncSession, *, virtual_account: str | None = None, konbini_number: str | None = None
) -> Resident:
    """The wallet a bank transfer's account or a convenience-store number names."""
    if virtual_account is not None:
        condition = FundingReference.virtual_account == virtual_account
        field, shown = "virtual_account", virtual_account
    elif konbini_number is not None:
        condition = FundingReference.konbini_number == konbini_number
        field, shown = "konbini_number", konbini_number
    else:  # the webhook's schema requires one of them
        raise ValueError("a reference is required")
    if field == "konbini_number" and not konbini_number_is_well_formed(shown):
        raise FundingReferenceUnknown(
            f"{shown!r} is not a valid konbini number (check digit); return the payment.",
            field=field,
        )
    resident = (
        await session.execute(
            select(Resident)
            .join(FundingReference, FundingReference.resident_id == Resident.user_id)
            .where(condition)
        )
    ).scalar_one_or_none()
    if resident is None:
        raise FundingReferenceUnknown(
            f"No wallet has the {field} {shown!r}; return the payment to the payer.",
            field=field,
        )
    return resident
