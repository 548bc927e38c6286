"""The wallet's side of a ward benefit (給付): who may receive it, its points lots written
in bulk, what each recipient got and did with them, and the notice in the app.

The benefits context decides who gets how much and posts the ledger entries; the rows of
residents and lots stay the wallet's, so it reads and writes them through these functions.
Everything here is one statement per call, whatever the number of residents: a benefit
reaches the whole ward (180,000 wallets) in batches of thousands.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    BindParameter,
    String,
    and_,
    any_,
    bindparam,
    func,
    or_,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession

from machipay.db import UTCDateTime
from machipay.timeutil import to_tokyo
from wallet_api.models import PointsLot, Resident, WalletTransaction

BENEFIT_GRANT = "benefit_grant"
# Ten-year bands as analytics publishes them, bottom-coded (under 20 counts as 10-19) and
# top-coded at 80+.
AGE_BANDS = ("10-19", "20-29", "30-39", "40-49", "50-59", "60-69", "70-79", "80+")


def _birth_years(band: str, year: int) -> object:
    if band == "80+":
        return Resident.birth_year <= year - 80
    low = int(band.split("-", 1)[0])
    youngest = year - low  # born that year: `low` years old this year
    if low == 10:
        return Resident.birth_year >= year - 19
    return Resident.birth_year.between(year - low - 9, youngest)


# A benefit reaches a wallet whose phone was proven (a number typed by someone else holds
# nothing) and that is not closed (its owner has been refunded and left).
_ELIGIBLE = (Resident.phone_verified_at.is_not(None), Resident.status != "closed")


async def residents_matching(
    session: AsyncSession,
    *,
    district_ids: Sequence[str],
    age_bands: Sequence[str],
    at: datetime,
) -> list[int]:
    """Residents' ids (ascending) living in one of ``district_ids`` and in one of
    ``age_bands`` (the age reached in ``at``'s year in Tokyo); an empty list means all.
    Only wallets that can hold them: a verified phone, not closed (a frozen wallet still
    takes money in)."""
    query = select(Resident.user_id).where(*_ELIGIBLE)
    if district_ids:
        query = query.where(Resident.district_id.in_(list(district_ids)))
    if age_bands:
        year = to_tokyo(at).year
        query = query.where(or_(*(_birth_years(b, year) for b in age_bands)))  # type: ignore[arg-type]
    return [int(r) for r in (await session.execute(query.order_by(Resident.user_id))).scalars()]


def _texts(name: str, values: Sequence[str]) -> BindParameter[Any]:
    # One array parameter, not one per value: a list of 200,000 would pass the driver's
    # limit of 32,767 parameters.
    array: ARRAY[Any] = ARRAY(String())
    return bindparam(name, value=sorted(set(values)), type_=array)


async def residents_by_wallet_ids(
    session: AsyncSession, wallet_ids: Sequence[str]
) -> dict[str, int]:
    """Wallet id → resident id, for the wallets a benefit can reach."""
    if not wallet_ids:
        return {}
    rows = await session.execute(
        select(Resident.wallet_id, Resident.user_id).where(
            Resident.wallet_id == any_(_texts("wallet_ids", wallet_ids)), *_ELIGIBLE
        )
    )
    return {str(w): int(r) for w, r in rows}


async def residents_by_phones(session: AsyncSession, phones: Sequence[str]) -> dict[str, int]:
    """E.164 phone → resident id, for the registered wallets a benefit can reach."""
    if not phones:
        return {}
    rows = await session.execute(
        select(Resident.phone, Resident.user_id).where(
            Resident.phone == any_(_texts("phones", phones)), *_ELIGIBLE
        )
    )
    return {str(p): int(r) for p, r in rows}


_ADD_LOTS = text(
    "INSERT INTO wallet_points_lots (resident_id, amount, remaining, granted_at, expires_at,"
    " benefit_id, entry_id, source_reference)"
    " SELECT g.resident, :amount, :amount, :at, :expires_at, :benefit, g.entry, NULL"
    " FROM unnest(CAST(:residents AS bigint[]), CAST(:entries AS bigint[])) AS g(resident, entry)"
).bindparams(
    bindparam("residents", type_=ARRAY(BigInteger())),
    bindparam("entries", type_=ARRAY(BigInteger())),
    bindparam("at", type_=UTCDateTime),
    bindparam("expires_at", type_=UTCDateTime),
)
_ADD_HISTORY = text(
    "INSERT INTO wallet_transactions (resident_id, reference, kind, amount, money_change,"
    " points_change, counterparty, message, entry_id, created_at)"
    " SELECT g.resident, 'bg_' || g.entry, :kind, :amount, 0, :amount, :name, NULL, g.entry, :at"
    " FROM unnest(CAST(:residents AS bigint[]), CAST(:entries AS bigint[])) AS g(resident, entry)"
).bindparams(
    bindparam("residents", type_=ARRAY(BigInteger())),
    bindparam("entries", type_=ARRAY(BigInteger())),
    bindparam("at", type_=UTCDateTime),
)


async def add_benefit_lots(
    session: AsyncSession,
    *,
    benefit_id: int,
    name: str,
    amount: int,
    expires_at: datetime,
    at: datetime,
    grants: Sequence[tuple[int, int]],
) -> None:
    """Record points already credited, one lot per ``(resident id, entry id)``, and a line
    in each resident's history (its counterparty is the benefit's name: the app's notice).
    Two statements for the whole batch. A resident's second lot of the same benefit is
    refused by a unique index, whatever the caller does."""
    if not grants:
        return
    params = {
        "residents": [g[0] for g in grants],
        "entries": [g[1] for g in grants],
        "amount": amount,
        "at": at,
        "expires_at": expires_at,
        "benefit": benefit_id,
        "kind": BENEFIT_GRANT,
        "name": name[:80],
    }
    await session.execute(_ADD_LOTS, params)
    await session.execute(_ADD_HISTORY, params)


@dataclass(frozen=True, slots=True)
class BenefitLotFigures:
    """One recipient's lot of a benefit: granted, still held, expired (the rest was spent)."""

    resident_id: int
    district_id: str
    granted: int
    remaining: int
    expired: int

    @property
    def spent(self) -> int:
        return self.granted - self.remaining - self.expired


async def benefit_lot_figures(session: AsyncSession, benefit_id: int) -> list[BenefitLotFigures]:
    """Every recipient's lot of the benefit with the recipient's home district.

    Points given back by a refund return to their lot, so ``spent`` is net of refunds."""
    rows = await session.execute(
        select(
            PointsLot.resident_id,
            Resident.district_id,
            func.sum(PointsLot.amount),
            func.sum(PointsLot.remaining),
            func.sum(PointsLot.expired),
        )
        .join(Resident, Resident.user_id == PointsLot.resident_id)
        .where(PointsLot.benefit_id == benefit_id)
        .group_by(PointsLot.resident_id, Resident.district_id)
    )
    return [
        BenefitLotFigures(int(r), str(d), int(a or 0), int(rem or 0), int(e or 0))
        for r, d, a, rem, e in rows
    ]


@dataclass(frozen=True, slots=True)
class BenefitReceived:
    name: str
    points: int
    granted_at: datetime


async def benefits_received(
    session: AsyncSession, resident_id: int, *, since: datetime
) -> list[BenefitReceived]:
    """The benefits that reached the resident since ``since``, newest first (the app's
    「給付ポイント N pt が届きました」)."""
    rows = await session.execute(
        select(
            WalletTransaction.counterparty, WalletTransaction.amount, WalletTransaction.created_at
        )
        .where(
            and_(
                WalletTransaction.resident_id == resident_id,
                WalletTransaction.kind == BENEFIT_GRANT,
                WalletTransaction.created_at >= since,
            )
        )
        .order_by(WalletTransaction.id.desc())
        .limit(10)
    )
    return [BenefitReceived(str(n or ""), int(a), at) for n, a, at in rows]
