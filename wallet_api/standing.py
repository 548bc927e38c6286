"""A wallet's standing, as the ward's help desk (窓口) changes it: found by phone or wallet
id, frozen and unfrozen, moved to another district, closed.

Closing is the ward's refund procedure on service termination (資金決済法 Art. 20, the only
way prepaid money leaves as cash): the points are forfeited to the breakage of the campaign
each lot came from, the money moves to the refund in transit (Dr resident money / Cr
resident refund) for settlement's next Zengin file, the phone number is freed for a new
registration, and the login ends for good. Nothing here commits.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

import ledger
from identity import close_user
from ledger import Leg, credit, debit
from machipay.cache import CacheBackend
from machipay.errors import Conflict, NotFound, ValidationFailed
from machipay.phone import normalize_phone
from machipay.settings import Settings
from machipay.timeutil import utcnow
from wallet_api.history import history_row, write_history
from wallet_api.models import PointsLot, Resident, WalletTransaction
from ward import district_exists


class ResidentNotFound(NotFound):
    type_slug = "resident-not-found"
    title = "Unknown resident"


class WalletStandingConflict(Conflict):
    type_slug = "wallet-standing-conflict"
    title = "The wallet is not in a state that allows this"


async def find_resident(
    session: AsyncSession, *, phone: str | None = None, wallet_id: str | None = None
) -> Resident | None:
    """The resident with this phone number (any common notation) or wallet id; None if
    nobody has it. Exactly one of the two is given."""
    if (phone is None) == (wallet_id is None):
        raise ValidationFailed("Search by phone or by wallet_id, one of the two.")
    if phone is not None:
        try:
            e164 = normalize_phone(phone)
        except ValueError as exc:
            raise ValidationFailed(
                "Enter a Japanese phone number, e.g. 090-1234-5678.", field="phone"
            ) from exc
        query = select(Resident).where(Resident.phone == e164)
    else:
        query = select(Resident).where(Resident.wallet_id == wallet_id)
    return (await session.execute(query)).scalar_one_or_none()


async def resident_by_id(
    session: AsyncSession, resident_id: int, *, lock: bool = False
) -> Resident:
    query = select(Resident).where(Resident.user_id == resident_id)
    found = (await session.execute(query.with_for_update() if lock else query)).scalar_one_or_none()
    if found is None:
        raise ResidentNotFound(f"No resident {resident_id}.")
    return found


async def set_frozen(session: AsyncSession, resident_id: int, *, frozen: bool) -> Resident:
    """Freeze or unfreeze. The row lock makes a freeze wait for a payment in flight, and a
    payment after it find the wallet frozen (``wallet_lock_lots`` reads it under the lock)."""
    resident = await resident_by_id(session, resident_id, lock=True)
    if resident.status == "closed":
        raise WalletStandingConflict("A closed wallet can be neither frozen nor unfrozen.")
    wanted = "frozen" if frozen else "active"
    if resident.status == wanted:
        raise WalletStandingConflict(f"The wallet is already {wanted}.")
    resident.status = wanted
    await session.flush()
    return resident


async def change_district(session: AsyncSession, resident_id: int, district: str) -> str:
    """Move a resident to another district of the ward; returns the district they left."""
    resident = await resident_by_id(session, resident_id, lock=True)
    if resident.status == "closed":
        raise WalletStandingConflict("A closed wallet has no district to change.")
    if not await district_exists(session, district):
        raise ValidationFailed(
            f"Unknown district {district!r}; see GET /api/v1/districts.", field="district"
        )
    if district == resident.district_id:
        raise ValidationFailed("The resident already lives in this district.", field="district")
    before = resident.district_id
    resident.district_id = district
    await session.flush()
    return before


async def recent_history(
    session: AsyncSession, resident_id: int, *, limit: int
) -> list[WalletTransaction]:
    return list(
        (
            await session.execute(
                select(WalletTransaction)
                .where(WalletTransaction.resident_id == resident_id)
                .order_by(WalletTransaction.id.desc())
                .limit(limit)
            )
        ).scalars()
    )


@dataclass(frozen=True, slots=True)
class WalletClosure:
    resident_id: int
    refund: int  # money moved to the refund in transit (0: nothing to send)
    points_forfeited: int


async def _forfeit_points(session: AsyncSession, resident: Resident, key: str) -> int:
    """Every lot's unspent points (expired but not yet swept ones too) to the breakage of
    whoever paid for the lot (its campaign or its benefit), in one entry."""
    lots = (
        await session.execute(
            select(PointsLot.id, PointsLot.remaining, PointsLot.campaign_id, PointsLot.benefit_id)
            .where(PointsLot.resident_id == resident.user_id, PointsLot.remaining > 0)
            .order_by(PointsLot.id)
            .with_for_update()
        )
    ).all()
    total = sum(int(lot.remaining) for lot in lots)
    if not total:
        return 0
    by_source: dict[str, int] = defaultdict(int)
    for lot in lots:
        # A lot has exactly one source (a CHECK on the table).
        breakage = (
            ledger.campaign_breakage(int(lot.campaign_id))
            if lot.campaign_id is not None
            else ledger.benefit_breakage(int(lot.benefit_id))
        )
        by_source[breakage] += int(lot.remaining)
    legs: list[Leg] = [debit(ledger.resident_points(resident.user_id), total)]
    for breakage, amount in sorted(by_source.items()):
        await ledger.open_account(session, breakage)
        legs.append(credit(breakage, amount))
    posted = await ledger.post_entry(
        session, idempotency_key=key, kind="points_forfeit", legs=legs, memo="wallet closed"
    )
    await session.execute(
        update(PointsLot)
        .where(PointsLot.id.in_([lot.id for lot in lots]))
        # Forfeited points count as expired in a benefit's report: not spent at a shop.
        .values(remaining=0, expired=PointsLot.expired + PointsLot.remaining)
        .execution_options(synchronize_session=False)
    )
    await write_history(
        session,
        [
            history_row(
                resident_id=resident.user_id,
                reference=f"pf_{posted.id}",
                kind="points_forfeit",
                amount=total,
                points_change=-total,
                entry_id=posted.id,
                at=utcnow(),
            )
        ],
    )
    return total


async def close_wallet(
    session: AsyncSession,
    cache: CacheBackend,
    settings: Settings,
    *,
    resident_id: int,
    reference: str,
) -> WalletClosure:
    """Close the wallet (once) and move whatever money it holds to the refund in transit.

    Called again for a closed wallet whose refund came back (a failed bank transfer puts
    the money back in it), it only moves the money again: ``reference`` keys the entries,
    so the same closure never posts twice.
    """
    resident = await resident_by_id(session, resident_id, lock=True)
    forfeited = 0
    if resident.status != "closed":
        forfeited = await _forfeit_points(session, resident, f"closure-points:{reference}")
        resident.status = "closed"
        resident.phone = None
        await session.flush()
        await close_user(session, cache, settings, resident.user_id)
    money = await ledger.get_balance(session, ledger.resident_money(resident.user_id))
    if money:
        await ledger.open_account(session, ledger.resident_refund(resident.user_id))
        posted = await ledger.post_entry(
            session,
            idempotency_key=f"closure-refund:{reference}",
            kind="closure_refund",
            legs=[
                debit(ledger.resident_money(resident.user_id), money),
                credit(ledger.resident_refund(resident.user_id), money),
            ],
            memo="refund to the resident's bank account",
        )
        await write_history(
            session,
            [
                history_row(
                    resident_id=resident.user_id,
                    reference=f"cr_{posted.id}",
                    kind="closure_refund",
                    amount=money,
                    money_change=-money,
                    counterparty="bank",
                    entry_id=posted.id,
                    at=utcnow(),
                )
            ],
        )
    return WalletClosure(resident.user_id, money, forfeited)


REFUND_BACK = "closure_refund_back"


async def record_refund_returned(
    session: AsyncSession, *, resident_id: int, amount: int, entry_id: int, reason: str | None
) -> None:
    """A history line for a closed wallet's refund that the bank sent back (the money is in
    the wallet again, owed to the resident until a new closure sends it): the resident and
    the desk see it come back, and why."""
    why = f"（{reason}）" if reason else ""
    await write_history(
        session,
        [
            history_row(
                resident_id=resident_id,
                reference=f"rb_{entry_id}",
                kind=REFUND_BACK,
                amount=amount,
                money_change=amount,
                counterparty="bank",
                message=f"返金の振込ができず{why}、残高に戻りました。窓口で振込先をご確認ください。"[
                    :200
                ],
                entry_id=entry_id,
                at=utcnow(),
            )
        ],
    )


async def wallets_by_ids(session: AsyncSession, resident_ids: list[int]) -> dict[int, Resident]:
    if not resident_ids:
        return {}
    rows = await session.execute(select(Resident).where(Resident.user_id.in_(resident_ids)))
    return {r.user_id: r for r in rows.scalars()}
