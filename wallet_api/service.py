"""Residents: registration, the wallet, top-ups from the funding network, P2P transfers.

Money rules (DESIGN.md 3): every movement is one ledger entry posted with an idempotency
key; a wallet never holds more than the balance cap; points never move between residents.
Nothing here commits: the request's unit of work does.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

import ledger
from identity import (
    create_user,
    create_users_bulk,
    ip_limit,
    issue_code,
    redeem_code,
    reserve_user_id,
)
from ledger import InsufficientFunds, credit, debit
from machipay.auth import Role
from machipay.auth.passwords import hash_password, password_problems
from machipay.cache import CacheBackend, RateLimit
from machipay.errors import Conflict, Forbidden, RateLimited, ValidationFailed
from machipay.phone import mask_phone, normalize_phone
from machipay.settings import Settings
from machipay.sms import SmsSender, within_sms_allowance
from machipay.timeutil import TOKYO, tokyo_day_start, utcnow
from wallet_api.errors import (
    PHONE_NOT_VERIFIED,
    WALLET_CLOSED,
    WALLET_FROZEN,
    BalanceCapExceeded,
    PhoneNotVerified,
    RecipientCannotReceive,
    TransferLimitExceeded,
    WalletClosed,
    WalletFrozen,
    WalletNotFound,
)
from wallet_api.models import PointsLot, Resident, WalletTransaction
from wallet_api.points import live_lots
from wallet_api.references import wallet_for_reference
from ward import district_exists

OLDEST_BIRTH_YEAR = 1900
_CANNOT_RECEIVE = (
    "This phone number cannot receive this transfer: check the number, or ask the person to "
    "make room in their wallet."
)


def _new_wallet_id() -> str:
    return "w_" + secrets.token_hex(8)


def _new_reference(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(10)}"


@dataclass(frozen=True, slots=True)
class Registration:
    """What a registration answers: the same shape whether or not it created an account."""

    id: int
    wallet_id: str


def verification_text(code: str, settings: Settings) -> str:
    minutes = settings.phone_code_ttl_seconds // 60
    return (
        f"【マチペイ】確認コード: {code}（{minutes}分間有効）。"
        "このコードを他の人に教えないでください。"
    )


TAKEN_NUMBER_TEXT = (
    "【マチペイ】この電話番号で新規登録の申し込みがありましたが、この番号は既に登録されています。"
    "ご本人の場合は、アプリのサインイン画面の「パスワードを忘れた方」からパスワードを再設定して"
    "ください。心当たりがなければ、このメッセージは無視してください。"
)


async def register_resident(
    session: AsyncSession,
    cache: CacheBackend,
    settings: Settings,
    sms: SmsSender,
    *,
    phone: str,
    password: str,
    display_name: str,
    birth_year: int,
    district: str,
    ip: str,
) -> Registration:
    """Register a resident whose wallet waits for the SMS code (verify_phone).

    A number someone already registered gets the same answer, after the same work (an
    argon2 hash, an id from the same sequence, one SMS), and no account: the SMS tells the
    number's owner, who alone can read it, to reset their password if it was them."""
    await ip_limit(settings).hit(cache, ip)
    await RateLimit("registration", settings.registrations_per_ip_per_hour, 3_600).hit(cache, ip)
    try:
        e164 = normalize_phone(phone)
    except ValueError as exc:
        raise ValidationFailed(
            "Enter a Japanese phone number, e.g. 090-1234-5678.", field="phone"
        ) from exc
    this_year = utcnow().astimezone(TOKYO).year
    if not OLDEST_BIRTH_YEAR <= birth_year <= this_year:
        raise ValidationFailed(
            f"birth_year must be between {OLDEST_BIRTH_YEAR} and {this_year}.", field="birth_year"
        )
    if not display_name.strip():
        raise ValidationFailed("display_name must not be blank.", field="display_name")
    if not await district_exists(session, district):
        raise ValidationFailed(
            f"Unknown district {district!r}; see GET /api/v1/districts.", field="district"
        )
    # The password is judged before the number is looked at: a weak one is refused alike.
    problems = password_problems(password, username=e164)
    if problems:
        raise ValidationFailed(
            "The password must be " + "; ".join(problems) + ".", field="password"
        )
    taken = (
        await session.execute(select(Resident.user_id).where(Resident.phone == e164))
    ).scalar_one_or_none() is not None
    registration: Registration | None = None
    if not taken:
        try:
            registration = await _create_pending_resident(
                session, settings, e164, password, display_name, birth_year, district
            )
        except Conflict:  # registered a moment ago by a concurrent request
            registration = None
    if registration is None:
        hash_password(password)  # the time an account's argon2 hash takes
        registration = Registration(await reserve_user_id(session), _new_wallet_id())
        text = TAKEN_NUMBER_TEXT
    else:
        code = await issue_code(session, settings, registration.id, "verify")
        text = verification_text(code, settings)
    if await within_sms_allowance(cache, settings, e164):
        await sms.send(e164, text)
    return registration


async def _create_pending_resident(
    session: AsyncSession,
    settings: Settings,
    e164: str,
    password: str,
    display_name: str,
    birth_year: int,
    district: str,
) -> Registration:
    user = await create_user(session, username=e164, password=password, role=Role.RESIDENT)
    resident = Resident(
        user_id=user.id,
        wallet_id=_new_wallet_id(),
        phone=e164,
        display_name=display_name.strip(),
        birth_year=birth_year,
        district_id=district,
        created_at=utcnow(),
        phone_verified_at=None,
    )
    session.add(resident)
    await session.flush()
    await ledger.open_accounts(
        session, [ledger.resident_money(user.id), ledger.resident_points(user.id)]
    )
    return Registration(user.id, resident.wallet_id)


async def verify_phone(
    session: AsyncSession,
    cache: CacheBackend,
    settings: Settings,
    *,
    phone: str,
    code: str,
    ip: str,
) -> None:
    """Prove the phone with the code it received; the wallet can then pay and receive.
    An unknown, already verified or malformed number gets the wrong-code answer."""
    await ip_limit(settings).hit(cache, ip)
    try:
        e164: str | None = normalize_phone(phone)
    except ValueError:
        e164 = None
    resident = (
        None
        if e164 is None
        else (
            await session.execute(
                select(Resident).where(Resident.phone == e164, Resident.phone_verified_at.is_(None))
            )
        ).scalar_one_or_none()
    )
    await redeem_code(session, settings, resident.user_id if resident else None, "verify", code)
    assert resident is not None  # redeem_code refuses when there is no pending resident
    resident.phone_verified_at = utcnow()
    await session.flush()


async def resend_verification(
    session: AsyncSession, cache: CacheBackend, settings: Settings, *, phone: str, ip: str
) -> tuple[str, str] | None:
    """A new code for a resident still waiting for one: (number, text) to send after the
    response, or None. The caller answers 202 either way."""
    await ip_limit(settings).hit(cache, ip)
    try:
        e164 = normalize_phone(phone)
    except ValueError:
        return None
    pending = (
        await session.execute(
            select(Resident.user_id).where(
                Resident.phone == e164, Resident.phone_verified_at.is_(None)
            )
        )
    ).scalar_one_or_none()
    if pending is None or not await within_sms_allowance(cache, settings, e164):
        return None
    code = await issue_code(session, settings, pending, "verify")
    return e164, verification_text(code, settings)


async def mark_phone_verified(session: AsyncSession, resident_id: int) -> None:
    """For seeding and benchmarks, whose residents' phones are made up by the operator."""
    resident = await session.get(Resident, resident_id)
    if resident is not None and resident.phone_verified_at is None:
        resident.phone_verified_at = utcnow()
        await session.flush()


async def resident_by_wallet_id(session: AsyncSession, wallet_id: str) -> Resident:
    resident = (
        await session.execute(select(Resident).where(Resident.wallet_id == wallet_id))
    ).scalar_one_or_none()
    if resident is None:
        raise WalletNotFound(f"No wallet {wallet_id!r}.")
    return resident


async def resident_of(session: AsyncSession, user_id: int) -> Resident:
    resident = await session.get(Resident, user_id)
    if resident is None:
        raise Forbidden("Only residents have a wallet.")
    return resident


async def require_wallet_can_move_money(session: AsyncSession, resident_id: int) -> None:
    """The one gate every way money leaves a wallet passes (paying by QR or code, sending,
    taking a one-time code). A refusal is 403 with a type saying why: the phone is not yet
    verified, or the help desk froze or closed the wallet.

    Money coming in (top-ups, a shop's refund) does not pass it: a frozen wallet is frozen
    to protect what is in it, not to turn money away. Payments do not call it: their gate is
    ``wallet_lock_lots``, which reads the same facts under the payer's row lock (one round
    trip fewer, and a freeze that commits while a payment is on its way still stops it).
    """
    row = (
        await session.execute(
            select(Resident.status, Resident.phone_verified_at).where(
                Resident.user_id == resident_id
            )
        )
    ).one_or_none()
    if row is None or row.phone_verified_at is None:
        raise PhoneNotVerified(PHONE_NOT_VERIFIED)
    if row.status == "frozen":
        raise WalletFrozen(WALLET_FROZEN)
    if row.status == "closed":
        raise WalletClosed(WALLET_CLOSED)


@dataclass(frozen=True, slots=True)
class WalletView:
    wallet_id: str
    money: int
    points: int
    lots: list[PointsLot]
    limits: dict[str, int]


async def _p2p_sent_since(session: AsyncSession, resident_id: int, since: datetime) -> int:
    total = (
        await session.execute(
            select(func.coalesce(func.sum(WalletTransaction.amount), 0)).where(
                WalletTransaction.resident_id == resident_id,
                WalletTransaction.kind == "p2p_out",
                WalletTransaction.created_at >= since,
            )
        )
    ).scalar_one()
    return int(total)


def _tokyo_day_and_month_start(now: datetime) -> tuple[datetime, datetime]:
    day = tokyo_day_start(now)
    return day, day.replace(day=1)


async def wallet_view(session: AsyncSession, settings: Settings, resident: Resident) -> WalletView:
    now = utcnow()
    balances = await ledger.get_balances(
        session, [ledger.resident_money(resident.user_id), ledger.resident_points(resident.user_id)]
    )
    lots = await live_lots(session, resident.user_id, now=now)
    day, month = _tokyo_day_and_month_start(now)
    sent_today = await _p2p_sent_since(session, resident.user_id, day)
    sent_month = await _p2p_sent_since(session, resident.user_id, month)
    return WalletView(
        wallet_id=resident.wallet_id,
        money=balances[ledger.resident_money(resident.user_id)],
        points=sum(lot.remaining for lot in lots),
        lots=lots,
        limits={
            "balance_cap": settings.wallet_balance_cap,
            "max_payment": settings.max_payment,
            "p2p_per_transfer": settings.p2p_max_per_transfer,
            "p2p_daily_cap": settings.p2p_daily_cap,
            "p2p_daily_remaining": max(0, settings.p2p_daily_cap - sent_today),
            "p2p_monthly_cap": settings.p2p_monthly_cap,
            "p2p_monthly_remaining": max(0, settings.p2p_monthly_cap - sent_month),
        },
    )


async def transactions_page(
    session: AsyncSession, resident_id: int, *, limit: int, before_id: int | None
) -> tuple[list[WalletTransaction], int | None]:
    """Newest first; the cursor is the id of the last item shown."""
    query = select(WalletTransaction).where(WalletTransaction.resident_id == resident_id)
    if before_id is not None:
        query = query.where(WalletTransaction.id < before_id)
    rows = list(
        (
            await session.execute(query.order_by(WalletTransaction.id.desc()).limit(limit + 1))
        ).scalars()
    )
    next_cursor = rows[limit - 1].id if len(rows) > limit else None
    return rows[:limit], next_cursor


async def _assert_under_cap(session: AsyncSession, settings: Settings, resident_id: int) -> None:
    # Read after our own update: the row is locked by this transaction, so concurrent
    # credits to the same wallet queue behind us and each sees the others' amounts.
    balance = await ledger.get_balance(session, ledger.resident_money(resident_id))
    if balance > settings.wallet_balance_cap:
        raise BalanceCapExceeded(
            f"A wallet holds at most ¥{settings.wallet_balance_cap:,}; "
            f"this would make it ¥{balance:,}.",
            balance_cap=settings.wallet_balance_cap,
        )


async def credit_top_up(
    session: AsyncSession,
    settings: Settings,
    *,
    event_id: str,
    wallet_id: str | None = None,
    virtual_account: str | None = None,
    konbini_number: str | None = None,
    amount: int,
    source: str,
) -> bool:
    """Credit a funding event; False when this event_id was credited before (a replay).

    The event names its wallet by exactly one reference: the wallet id (an ATM, the ward's
    systems), the virtual account a bank transfer was sent to, or the konbini number."""
    if wallet_id is None:
        wallet_id = (
            await wallet_for_reference(
                session, virtual_account=virtual_account, konbini_number=konbini_number
            )
        ).wallet_id
    return (
        await credit_funding(
            session, settings, event_id=event_id, wallet_id=wallet_id, amount=amount, source=source
        )
    ).created


@dataclass(frozen=True, slots=True)
class Funded:
    created: bool  # False: this event was credited before (a replay)
    entry_id: int
    resident_id: int


async def credit_funding(
    session: AsyncSession,
    settings: Settings,
    *,
    event_id: str,
    wallet_id: str,
    amount: int,
    source: str,
) -> Funded:
    """Dr bank:settlement / Cr the resident's money, once per ``event_id``, for every way
    money arrives: the funding network's webhook and cash at a ward counter (``desk``).
    A frozen wallet still takes it; a closed one does not (its owner has been refunded)."""
    resident = await resident_by_wallet_id(session, wallet_id)
    if resident.status == "closed":
        raise WalletClosed(f"The wallet {wallet_id!r} is closed; it takes no money.")
    money = ledger.resident_money(resident.user_id)
    posted = await ledger.post_entry(
        session,
        idempotency_key=f"funding:{event_id}",
        kind="topup",
        legs=[debit(ledger.BANK_SETTLEMENT, amount), credit(money, amount)],
        memo=source,
    )
    if not posted.created:
        return Funded(False, posted.id, resident.user_id)
    await _assert_under_cap(session, settings, resident.user_id)
    session.add(
        WalletTransaction(
            resident_id=resident.user_id,
            reference=f"tu_{posted.id}",
            kind="topup",
            amount=amount,
            money_change=amount,
            points_change=0,
            counterparty=source,
            entry_id=posted.id,
            created_at=utcnow(),
        )
    )
    await session.flush()
    return Funded(True, posted.id, resident.user_id)


@dataclass(frozen=True, slots=True)
class TransferDone:
    reference: str
    amount: int
    recipient_name: str
    recipient_phone: str
    message: str | None
    created_at: datetime


def _misses(settings: Settings) -> RateLimit:
    return RateLimit("p2p-unknown-recipient", settings.p2p_unknown_recipients_per_day, 86_400)


async def _refuse_once_misses_are_spent(
    cache: CacheBackend, settings: Settings, sender_id: int
) -> None:
    """Checked before the look-up and counted only after a miss: a sender who has tried too
    many numbers that cannot receive waits for every transfer, to anyone."""
    misses = _misses(settings)
    if int(await cache.get(misses.key_for(str(sender_id))) or 0) >= misses.limit:
        retry_after = misses.window_seconds - int(time.time()) % misses.window_seconds
        raise RateLimited(
            f"Too many transfers to numbers that cannot receive; try again in {retry_after} s.",
            retry_after=retry_after,
        )


async def _count_miss(cache: CacheBackend, settings: Settings, sender_id: int) -> None:
    misses = _misses(settings)
    await cache.incr_window(misses.key_for(str(sender_id)), misses.window_seconds)


def recipient_phone(to_phone: str) -> str:
    """A transfer's recipient number as E.164 (full-width digits and dashes accepted)."""
    try:
        return normalize_phone(to_phone)
    except ValueError as exc:
        raise ValidationFailed(
            "Enter the recipient's Japanese phone number.", field="to_phone"
        ) from exc


async def resident_who_can_receive(session: AsyncSession, e164: str) -> Resident | None:
    """The resident a transfer to this number reaches, the one rule for the transfer and
    for the name shown before it: a verified phone (someone may have registered a number
    that is not theirs, and the money would reach them, not the number's owner) and an
    active wallet (a frozen one was frozen because someone else may hold the phone, and
    money sent into it could not be sent back until the desk unfreezes it)."""
    return (
        await session.execute(
            select(Resident).where(
                Resident.phone == e164,
                Resident.phone_verified_at.is_not(None),
                Resident.status == "active",
            )
        )
    ).scalar_one_or_none()


async def transfer_money(
    session: AsyncSession,
    cache: CacheBackend,
    settings: Settings,
    *,
    sender_id: int,
    to_phone: str,
    amount: int,
    message: str | None,
    idempotency_key: str,
) -> TransferDone:
    """Send prepaid money to another resident by phone number (money only, never points).

    Every check about the sender (limits, funds) comes before the recipient is looked up,
    and a recipient that cannot receive gets the answer an unregistered number gets: the
    answer never tells whether a number is registered unless the money moves."""
    await require_wallet_can_move_money(session, sender_id)
    e164 = recipient_phone(to_phone)
    # Lock the sender first: caps are sums over their past transfers, so two transfers of
    # one resident must not both pass the check at once.
    sender = (
        await session.execute(
            select(Resident).where(Resident.user_id == sender_id).with_for_update()
        )
    ).scalar_one()
    await require_wallet_can_move_money(session, sender.user_id)
    if e164 == sender.phone:
        raise ValidationFailed("You cannot send money to yourself.", field="to_phone")
    if amount > settings.p2p_max_per_transfer:
        raise TransferLimitExceeded(f"One transfer is at most ¥{settings.p2p_max_per_transfer:,}.")
    now = utcnow()
    day, month = _tokyo_day_and_month_start(now)
    if await _p2p_sent_since(session, sender.user_id, day) + amount > settings.p2p_daily_cap:
        raise TransferLimitExceeded(f"You can send at most ¥{settings.p2p_daily_cap:,} a day.")
    if await _p2p_sent_since(session, sender.user_id, month) + amount > settings.p2p_monthly_cap:
        raise TransferLimitExceeded(f"You can send at most ¥{settings.p2p_monthly_cap:,} a month.")
    if await ledger.get_balance(session, ledger.resident_money(sender.user_id)) < amount:
        raise InsufficientFunds("Your wallet does not hold enough money for this transfer.")
    await _refuse_once_misses_are_spent(cache, settings, sender.user_id)
    # The sender hears what an unknown number gets: whether a wallet is frozen or unverified
    # is nobody else's business.
    recipient = await resident_who_can_receive(session, e164)
    if recipient is None:
        await _count_miss(cache, settings, sender.user_id)
        raise RecipientCannotReceive(_CANNOT_RECEIVE)

    posted = await ledger.post_entry(
        session,
        idempotency_key=f"p2p:{sender.user_id}:{idempotency_key}",
        kind="p2p",
        legs=[
            debit(ledger.resident_money(sender.user_id), amount),
            credit(ledger.resident_money(recipient.user_id), amount),
        ],
        memo=message,
    )
    reference = _new_reference("tr")
    if posted.created:
        try:
            await _assert_under_cap(session, settings, recipient.user_id)
        except BalanceCapExceeded as exc:
            await _count_miss(cache, settings, sender.user_id)
            raise RecipientCannotReceive(_CANNOT_RECEIVE) from exc
        for resident, kind, change, other in (
            (sender, "p2p_out", -amount, recipient),
            (recipient, "p2p_in", amount, sender),
        ):
            session.add(
                WalletTransaction(
                    resident_id=resident.user_id,
                    reference=reference,
                    kind=kind,
                    amount=amount,
                    money_change=change,
                    points_change=0,
                    counterparty=other.display_name,
                    message=message,
                    entry_id=posted.id,
                    created_at=now,
                )
            )
        await session.flush()
    return TransferDone(reference, amount, recipient.display_name, mask_phone(e164), message, now)


@dataclass(frozen=True, slots=True)
class NewResident:
    """A resident of a synthetic ward (``machipay seed``), already validated."""

    phone: str  # E.164
    display_name: str
    birth_year: int
    district_id: str


async def add_residents_bulk(
    session: AsyncSession, residents: list[NewResident], *, password_hash: str
) -> list[Resident]:
    """Register many residents in a few statements (users, residents, their accounts).
    For seeding: the caller vouches for the data, so no rate limit and no per-row checks."""
    ids = await create_users_bulk(
        session, [(r.phone, Role.RESIDENT, None) for r in residents], password_hash=password_hash
    )
    now = utcnow()
    rows = [
        Resident(
            user_id=user_id,
            wallet_id=_new_wallet_id(),
            phone=r.phone,
            display_name=r.display_name,
            birth_year=r.birth_year,
            district_id=r.district_id,
            created_at=now,
            # The operator seeding a synthetic ward vouches for these numbers.
            phone_verified_at=now,
        )
        for user_id, r in zip(ids, residents, strict=True)
    ]
    session.add_all(rows)
    await session.flush()
    await ledger.open_accounts(
        session,
        [
            code
            for user_id in ids
            for code in (ledger.resident_money(user_id), ledger.resident_points(user_id))
        ],
    )
    return rows


async def resident_profiles(
    session: AsyncSession, resident_ids: list[int]
) -> dict[int, tuple[int, str]]:
    """Birth year and home district of each resident (for the analytics facts, which keep
    only a 10-year age band and the district)."""
    rows = await session.execute(
        select(Resident.user_id, Resident.birth_year, Resident.district_id).where(
            Resident.user_id.in_(resident_ids)
        )
    )
    return {int(i): (int(year), str(district)) for i, year, district in rows}
