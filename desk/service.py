"""The help desk (窓口) at the ward's offices: look residents up with a stated reason, freeze
and unfreeze, move a resident's district, close a wallet (two people) and take cash.

Every look-up, hit or miss, and every action is one row of the append-only ``desk_audit``
with the member of staff, the reason and the time; the resident reads the rows about them.
The wallet, the payouts and the sign-in belong to wallet_api, settlement and identity: this
context calls their service functions and writes only its own tables. Nothing here commits.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

import ledger
import settlement
import wallet_api
from desk.errors import (
    CashAmountOutOfBounds,
    ClosureConflict,
    ClosureNotFound,
    ClosureSelfApproval,
    NobodyFound,
    ReasonRequired,
    TopUpNotFound,
)
from desk.models import DeskAudit, DeskClosure, DeskStaff, DeskTopUp
from machipay.cache import CacheBackend, RateLimit
from machipay.phone import mask_phone, normalize_phone
from machipay.settings import Settings
from machipay.text import nfkc
from machipay.timeutil import utcnow
from merchant_api import BankAccount, validate_bank

MIN_REASON_CHARACTERS = 4
HISTORY_LINES = 10
TOP_UP_SOURCE = "desk"


def checked_reason(reason: str | None) -> str:
    """A reason a person can read later: NFKC, trimmed, at least a few characters."""
    text = nfkc(reason or "").strip()
    if len(text) < MIN_REASON_CHARACTERS:
        raise ReasonRequired(
            f"Give the reason (at least {MIN_REASON_CHARACTERS} characters), e.g. "
            "「ご本人来庁・残高照会」.",
            field="reason",
        )
    return text


async def staff_card(session: AsyncSession, staff_id: int) -> tuple[str, str]:
    """(display name, office) of a member of desk staff; a neutral label without a profile."""
    found = await session.get(DeskStaff, staff_id)
    if found is None:
        return f"職員 No.{staff_id}", "区役所"
    return found.display_name, found.office


async def set_staff_card(
    session: AsyncSession, staff_id: int, *, display_name: str, office: str
) -> None:
    found = await session.get(DeskStaff, staff_id)
    if found is None:
        session.add(DeskStaff(user_id=staff_id, display_name=display_name, office=office))
    else:
        found.display_name, found.office = display_name, office
    await session.flush()


async def audit(
    session: AsyncSession,
    *,
    staff_id: int,
    action: str,
    reason: str,
    resident_id: int | None,
    searched_by: str | None = None,
    searched_value: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    session.add(
        DeskAudit(
            staff_id=staff_id,
            action=action,
            reason=reason,
            searched_by=searched_by,
            searched_value=searched_value,
            resident_id=resident_id,
            detail=detail,
            created_at=utcnow(),
        )
    )
    await session.flush()


def mask_name(name: str) -> str:
    """山田 花子 → 山＊ 花＊: enough for the person at the counter to recognise, not to read
    off a screen over a shoulder."""
    return " ".join(part[:1] + "＊" * max(1, len(part) - 1) for part in name.split())


@dataclass(frozen=True, slots=True)
class ResidentSummary:
    resident_id: int
    wallet_id: str
    name: str  # masked
    phone: str | None  # masked; None once closed
    # When the SMS code sent to the phone was entered (None: never; the wallet cannot move
    # money, receive a transfer or a benefit until then).
    phone_verified_at: datetime | None
    district: str
    status: str
    money: int
    points: int
    refund_in_transit: int
    lots: list[tuple[int, datetime]]
    history: list[dict[str, Any]]
    closures: list[DeskClosure]
    payouts: dict[int, Any]


async def summary_of(session: AsyncSession, resident_id: int) -> ResidentSummary:
    resident = await wallet_api.resident_by_id(session, resident_id)
    now = utcnow()
    balances = await ledger.get_balances(
        session, [ledger.resident_money(resident_id), ledger.resident_points(resident_id)]
    )
    try:
        in_transit = await ledger.get_balance(session, ledger.resident_refund(resident_id))
    except ledger.UnknownAccount:  # opened by the first closure
        in_transit = 0
    lots = await wallet_api.live_lots(session, resident_id, now=now)
    history = await wallet_api.recent_history(session, resident_id, limit=HISTORY_LINES)
    closures = list(
        (
            await session.execute(
                select(DeskClosure)
                .where(DeskClosure.resident_id == resident_id)
                .order_by(DeskClosure.id.desc())
            )
        ).scalars()
    )
    payouts = await settlement.payouts_by_ids(
        session, [c.payout_id for c in closures if c.payout_id is not None]
    )
    return ResidentSummary(
        resident_id=resident_id,
        wallet_id=resident.wallet_id,
        name=mask_name(resident.display_name),
        phone=mask_phone(resident.phone) if resident.phone else None,
        phone_verified_at=resident.phone_verified_at,
        district=resident.district_id,
        status=resident.status,
        money=balances[ledger.resident_money(resident_id)],
        points=sum(lot.remaining for lot in lots),
        refund_in_transit=in_transit,
        lots=[(lot.remaining, lot.expires_at) for lot in lots],
        history=[
            {
                "id": row.reference,
                "kind": row.kind,
                "amount": row.amount,
                "money_change": row.money_change,
                "points_change": row.points_change,
                "created_at": row.created_at,
            }
            for row in history
        ],
        closures=closures,
        payouts=payouts,
    )


def lookup_limit(settings: Settings) -> RateLimit:
    return RateLimit("desk-lookup", settings.desk_lookups_per_minute)


async def look_up(
    session: AsyncSession,
    cache: CacheBackend,
    settings: Settings,
    *,
    staff_id: int,
    reason: str,
    phone: str | None,
    wallet_id: str | None,
) -> ResidentSummary:
    """Find a resident for the person at the counter. The reason is checked first, then the
    staff member's per-minute allowance; the look-up is audited whether it finds anyone or
    not (a miss answers 404 and keeps its audit row)."""
    why = checked_reason(reason)
    await lookup_limit(settings).hit(cache, str(staff_id))
    searched_by = "phone" if phone is not None else "wallet_id"
    found = await wallet_api.find_resident(session, phone=phone, wallet_id=wallet_id)
    # What was searched, as the search understood it (a phone number in E.164).
    value = nfkc(wallet_id or "").strip()
    if phone is not None:
        value = normalize_phone(phone)  # find_resident refused it already if it is not one
    await audit(
        session,
        staff_id=staff_id,
        action="lookup",
        reason=why,
        resident_id=found.user_id if found else None,
        searched_by=searched_by,
        searched_value=value[:40],
    )
    if found is None:
        raise NobodyFound("Nobody has this phone number or wallet id.")
    return await summary_of(session, found.user_id)


async def freeze(
    session: AsyncSession, *, staff_id: int, resident_id: int, reason: str, frozen: bool
) -> ResidentSummary:
    why = checked_reason(reason)
    await wallet_api.set_frozen(session, resident_id, frozen=frozen)
    await audit(
        session,
        staff_id=staff_id,
        action="freeze" if frozen else "unfreeze",
        reason=why,
        resident_id=resident_id,
    )
    return await summary_of(session, resident_id)


async def move_district(
    session: AsyncSession, *, staff_id: int, resident_id: int, district: str, reason: str
) -> ResidentSummary:
    why = checked_reason(reason)
    before = await wallet_api.change_district(session, resident_id, district)
    await audit(
        session,
        staff_id=staff_id,
        action="district",
        reason=why,
        resident_id=resident_id,
        detail={"from": before, "to": district},
    )
    return await summary_of(session, resident_id)


async def request_closure(
    session: AsyncSession,
    *,
    staff_id: int,
    resident_id: int,
    reason: str,
    bank: BankAccount,
) -> DeskClosure:
    """Ask to close a wallet and refund its money to ``bank`` (checked now as a shop's is:
    a request the payout file could not carry is refused at the counter, not at the bank).
    A closed wallet may be asked again only while money is back in it (a refund failed)."""
    why = checked_reason(reason)
    account = validate_bank(bank)
    resident = await wallet_api.resident_by_id(session, resident_id, lock=True)
    if resident.status == "closed":
        money = await ledger.get_balance(session, ledger.resident_money(resident_id))
        if not money:
            raise ClosureConflict("This wallet is closed and holds no money to refund.")
    pending = (
        await session.execute(
            select(DeskClosure.id).where(
                DeskClosure.resident_id == resident_id, DeskClosure.status == "pending"
            )
        )
    ).scalar_one_or_none()
    if pending is not None:
        raise ClosureConflict(f"Closure request {pending} for this wallet awaits approval.")
    closure = DeskClosure(
        resident_id=resident_id,
        status="pending",
        reason=why,
        bank_code=account.bank_code,
        branch_code=account.branch_code,
        account_type=account.account_type,
        account_number=account.account_number,
        account_name_kana=account.account_name_kana,
        requested_by=staff_id,
        requested_at=utcnow(),
    )
    session.add(closure)
    await session.flush()
    await audit(
        session,
        staff_id=staff_id,
        action="closure_request",
        reason=why,
        resident_id=resident_id,
        detail={"closure_id": closure.id},
    )
    return closure


async def pending_closures(session: AsyncSession, *, limit: int = 50) -> list[DeskClosure]:
    return list(
        (
            await session.execute(
                select(DeskClosure)
                .where(DeskClosure.status == "pending")
                .order_by(DeskClosure.id)
                .limit(limit)
            )
        ).scalars()
    )


async def approve_closure(
    session: AsyncSession,
    cache: CacheBackend,
    settings: Settings,
    *,
    staff_id: int,
    closure_id: int,
) -> DeskClosure:
    """The second person's approval: close the wallet (points to breakage, number freed,
    sign-in ended), move its money to the refund in transit and queue the bank transfer for
    the next Zengin file."""
    closure = (
        await session.execute(
            select(DeskClosure).where(DeskClosure.id == closure_id).with_for_update()
        )
    ).scalar_one_or_none()
    if closure is None:
        raise ClosureNotFound(f"No closure request {closure_id}.")
    if closure.requested_by == staff_id:
        raise ClosureSelfApproval("Whoever requested a closure cannot approve it.")
    if closure.status != "pending":
        raise ClosureConflict(f"Closure request {closure_id} is already {closure.status}.")
    done = await wallet_api.close_wallet(
        session, cache, settings, resident_id=closure.resident_id, reference=f"desk-{closure.id}"
    )
    payout_id = None
    if done.refund:
        payout = await settlement.queue_resident_refund(
            session,
            resident_id=closure.resident_id,
            amount=done.refund,
            bank=BankAccount(
                closure.bank_code,
                closure.branch_code,
                closure.account_type,
                closure.account_number,
                closure.account_name_kana,
            ),
        )
        payout_id = payout.id
    closure.status = "approved"
    closure.approved_by = staff_id
    closure.approved_at = utcnow()
    closure.refund = done.refund
    closure.points_forfeited = done.points_forfeited
    closure.payout_id = payout_id
    await session.flush()
    await audit(
        session,
        staff_id=staff_id,
        action="closure_approve",
        reason=closure.reason,
        resident_id=closure.resident_id,
        detail={"closure_id": closure.id, "refund": done.refund, "payout_id": payout_id},
    )
    return closure


async def cash_top_up(
    session: AsyncSession,
    settings: Settings,
    *,
    staff_id: int,
    wallet_id: str,
    amount: int,
    reason: str,
    idempotency_key: str,
) -> DeskTopUp:
    """Cash taken at a counter, credited through the same funding path as the network's
    webhook (source ``desk``); the event id carries the staff member and their key, so a
    retried request never credits twice."""
    why = checked_reason(reason)
    if not settings.desk_top_up_min <= amount <= settings.desk_top_up_max:
        raise CashAmountOutOfBounds(
            f"A counter top-up is ¥{settings.desk_top_up_min:,} to ¥{settings.desk_top_up_max:,}.",
            field="amount",
        )
    funded = await wallet_api.credit_funding(
        session,
        settings,
        event_id=f"desk:{staff_id}:{idempotency_key}",
        wallet_id=wallet_id,
        amount=amount,
        source=TOP_UP_SOURCE,
    )
    existing = (
        await session.execute(select(DeskTopUp).where(DeskTopUp.entry_id == funded.entry_id))
    ).scalar_one_or_none()
    if existing is not None:
        return existing
    name, office = await staff_card(session, staff_id)
    top_up = DeskTopUp(
        reference="DT" + secrets.token_hex(6).upper(),
        resident_id=funded.resident_id,
        wallet_id=wallet_id,
        amount=amount,
        reason=why,
        staff_id=staff_id,
        staff_name=name,
        office=office,
        entry_id=funded.entry_id,
        created_at=utcnow(),
    )
    session.add(top_up)
    await session.flush()
    await audit(
        session,
        staff_id=staff_id,
        action="top_up",
        reason=why,
        resident_id=funded.resident_id,
        detail={"reference": top_up.reference, "amount": amount},
    )
    return top_up


async def top_up_by_reference(session: AsyncSession, reference: str) -> DeskTopUp:
    found = (
        await session.execute(select(DeskTopUp).where(DeskTopUp.reference == reference))
    ).scalar_one_or_none()
    if found is None:
        raise TopUpNotFound(f"No counter top-up {reference!r}.")
    return found


@dataclass(frozen=True, slots=True)
class AccessLine:
    at: datetime
    action: str
    reason: str
    staff: str
    office: str


async def access_log(session: AsyncSession, resident_id: int, *, limit: int) -> list[AccessLine]:
    """Who at the ward looked at or acted on this resident's account, when and why: the
    staff member's display name and office, never their login."""
    rows = list(
        (
            await session.execute(
                select(DeskAudit)
                .where(DeskAudit.resident_id == resident_id)
                .order_by(DeskAudit.id.desc())
                .limit(limit)
            )
        ).scalars()
    )
    cards = {
        staff_id: await staff_card(session, staff_id) for staff_id in {r.staff_id for r in rows}
    }
    return [AccessLine(r.created_at, r.action, r.reason, *cards[r.staff_id]) for r in rows]
