"""Settlement (精算): what each shop is owed up to a cut-off, moved to its payout.

A run "as of" a date settles, for every shop whose period closes on or before that date,
everything its payable received before the period's cut-off and that no earlier
statement settled. One entry per shop and period:

    Dr merchant:payable   total
        Cr merchant:payout    net payout
        Cr platform:fees      fees (0 % by default)
    Dr bank:settlement    campaign-funded part (points spent at the shop + cashback)
        Cr bank:city          the same: the ward pays for its campaign, the residents'
                              prepaid float never does (DESIGN.md 3.2)

Why the figures are exact although payments never stop: the payable is a hot account
(postings without a row lock). Compacting it first takes its exclusive lock, which waits
for every transaction still posting to it; after that no posting made before the cut-off
can still be in flight, so the window ``[start, cut-off)`` is complete and final.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

import ledger
from ledger import credit, debit
from machipay.errors import NotFound
from machipay.settings import Settings
from machipay.timeutil import TOKYO, utcnow
from merchant_api import ShopForSettlement, lock_shop_for_settlement
from payments import PaymentLine, RefundLine, payments_by_entries, refunds_by_entries
from settlement.models import Payout, Settlement

SETTLEMENT_KIND = "settlement"
SCHEDULES = ("daily", "weekly", "monthly")


class SettlementNotFound(NotFound):
    type_slug = "settlement-not-found"
    title = "Unknown settlement"


def closing_date(schedule: str, as_of: date) -> date:
    """The last day of the latest period of ``schedule`` that has closed by ``as_of``:
    daily, the day itself; weekly, the Sunday; monthly, the month's last day."""
    if schedule == "daily":
        return as_of
    if schedule == "weekly":
        return as_of - timedelta(days=(as_of.isoweekday() % 7))
    if schedule == "monthly":
        last = calendar.monthrange(as_of.year, as_of.month)[1]
        if as_of.day == last:
            return as_of
        return as_of.replace(day=1) - timedelta(days=1)
    raise ValueError(f"unknown settlement schedule {schedule!r}")


def cutoff_of(day: date, settings: Settings) -> datetime:
    """When the business day ``day`` ends: the next day at the cut-off hour, Asia/Tokyo."""
    return datetime.combine(
        day + timedelta(days=1), time(hour=settings.settlement_cutoff_hour), tzinfo=TOKYO
    )


@dataclass(frozen=True, slots=True)
class Figures:
    payments: int = 0
    gross_sales: int = 0
    refund_count: int = 0
    refunds: int = 0
    campaign_cashback: int = 0
    adjustments: int = 0
    total: int = 0
    campaign_funded: int = 0
    # The rows behind the figures, by ledger entry (a statement lists them).
    paid: dict[int, PaymentLine] = field(default_factory=dict)
    refunded: dict[int, RefundLine] = field(default_factory=dict)


async def period_figures(
    session: AsyncSession, merchant_id: int, start: datetime | None, end: datetime
) -> Figures:
    """Classify every posting on the shop's payable in ``[start, end)`` by what it was.

    A payment entry credits the sale and, under a campaign, the shop's cashback; a refund
    entry debits the refund and the cashback it revokes; a deferred grant credits
    cashback; anything else (a failed payout coming back) is an adjustment.
    """
    moves = await ledger.movements(
        session,
        ledger.merchant_payable(merchant_id),
        start=start,
        end=end,
        exclude_kinds=(SETTLEMENT_KIND,),
    )
    paid = await payments_by_entries(session, [m.entry_id for m in moves if m.kind == "payment"])
    refunded = await refunds_by_entries(session, [m.entry_id for m in moves if m.kind == "refund"])
    gross = sales = refunds = refund_count = cashback = other = points = 0
    for move in moves:
        if move.entry_id in paid:
            payment = paid[move.entry_id]
            sales += 1
            gross += payment.amount
            cashback += move.amount - payment.amount
            points += payment.points_used
        elif move.entry_id in refunded:
            refund = refunded[move.entry_id]
            refund_count += 1
            refunds += refund.amount
            cashback -= -move.amount - refund.amount
            points -= refund.points_back
        elif move.kind == "campaign_grant":
            cashback += move.amount
        else:
            other += move.amount
    total = sum(m.amount for m in moves)
    if total != gross - refunds + cashback + other:  # every posting is in one bucket
        raise AssertionError(f"merchant {merchant_id}: statement does not add up to the ledger")
    return Figures(
        payments=sales,
        gross_sales=gross,
        refund_count=refund_count,
        refunds=refunds,
        campaign_cashback=cashback,
        adjustments=other,
        total=total,
        campaign_funded=points + cashback,
        paid=paid,
        refunded=refunded,
    )


def fees_for(figures: Figures, fee_bp: int) -> int:
    """Fees on net sales, rounded down, never more than what is paid out."""
    return max(0, min(figures.total, (figures.gross_sales - figures.refunds) * fee_bp // 10_000))


async def settle_merchant(
    session: AsyncSession,
    settings: Settings,
    merchant_id: int,
    as_of: date,
    *,
    now: datetime | None = None,
) -> Settlement | None:
    """Settle one shop's period closing by ``as_of``; None when there is nothing to do
    (not closed yet, already settled, or no activity). Safe to re-run."""
    # One settlement of a shop at a time: a second run waits here, then sees the first.
    merchant = await lock_shop_for_settlement(session, merchant_id)
    schedule = merchant.settlement_schedule or settings.settlement_schedule
    closing = closing_date(schedule, as_of)
    return await settle_period(
        session,
        settings,
        merchant,
        closing=closing,
        cutoff=cutoff_of(closing, settings),
        now=now or utcnow(),
    )


async def settle_period(
    session: AsyncSession,
    settings: Settings,
    merchant: ShopForSettlement,
    *,
    closing: date,
    cutoff: datetime,
    now: datetime,
) -> Settlement | None:
    """Settle what ``merchant`` (locked by the caller) was owed before ``cutoff``, as the
    statement of the period closing on ``closing``."""
    merchant_id = merchant.id
    schedule = merchant.settlement_schedule or settings.settlement_schedule
    if cutoff > now:
        return None
    done = (
        await session.execute(
            select(Settlement.id).where(
                Settlement.merchant_id == merchant_id, Settlement.closing_date >= closing
            )
        )
    ).first()
    if done is not None:
        return None
    start = (
        await session.execute(
            select(Settlement.period_end)
            .where(Settlement.merchant_id == merchant_id, Settlement.status == "settled")
            .order_by(Settlement.period_end.desc())
            .limit(1)
        )
    ).scalar_one_or_none()
    payable = ledger.merchant_payable(merchant_id)
    await ledger.open_accounts(session, [payable, ledger.merchant_payout(merchant_id)])
    # Also waits for every transaction still posting to the payable (see the docstring).
    await ledger.compact_hot_account(session, payable)
    figures = await period_figures(session, merchant_id, start, cutoff)
    if not figures.total and not figures.payments and not figures.refund_count:
        return None
    fees = fees_for(figures, settings.merchant_fee_bp)
    net = figures.total - fees
    statement = Settlement(
        merchant_id=merchant_id,
        schedule=schedule,
        closing_date=closing,
        period_start=start,
        period_end=cutoff,
        status="settled" if net >= settings.payout_minimum else "carried_forward",
        payments=figures.payments,
        gross_sales=figures.gross_sales,
        refund_count=figures.refund_count,
        refunds=figures.refunds,
        campaign_cashback=figures.campaign_cashback,
        adjustments=figures.adjustments,
        total=figures.total,
        fees=fees if net >= settings.payout_minimum else 0,
        net_payout=net if net >= settings.payout_minimum else 0,
        campaign_funded=figures.campaign_funded,
        entry_id=None,
        created_at=now,
    )
    if statement.status == "settled":
        statement.entry_id = await _post_settlement(
            session, merchant_id, closing, figures, fees=fees, net=net
        )
    session.add(statement)
    await session.flush()
    if statement.status == "settled":
        session.add(
            Payout(
                settlement_id=statement.id,
                merchant_id=merchant_id,
                amount=net,
                status="pending",
                bank_code=merchant.bank_code,
                branch_code=merchant.branch_code,
                account_type=merchant.account_type,
                account_number=merchant.account_number,
                account_name_kana=merchant.account_name_kana,
                created_at=now,
            )
        )
        await session.flush()
    return statement


async def _post_settlement(
    session: AsyncSession,
    merchant_id: int,
    closing: date,
    figures: Figures,
    *,
    fees: int,
    net: int,
) -> int:
    legs = [
        debit(ledger.merchant_payable(merchant_id), figures.total),
        credit(ledger.merchant_payout(merchant_id), net),
    ]
    if fees:
        legs.append(credit(ledger.PLATFORM_FEES, fees))
    funded = figures.campaign_funded
    if funded > 0:
        legs += [debit(ledger.BANK_SETTLEMENT, funded), credit(ledger.BANK_CITY, funded)]
    elif funded < 0:  # more campaign money refunded than spent: it goes back to the ward
        legs += [debit(ledger.BANK_CITY, -funded), credit(ledger.BANK_SETTLEMENT, -funded)]
    posted = await ledger.post_entry(
        session,
        idempotency_key=f"settlement:{merchant_id}:{closing.isoformat()}",
        kind=SETTLEMENT_KIND,
        legs=legs,
        memo=(
            f"settlement of merchant {merchant_id} through {closing.isoformat()}:"
            f" {figures.payments} payments, {figures.refund_count} refunds,"
            f" campaign-funded ¥{funded}"
        ),
    )
    return posted.id


async def statements_of(
    session: AsyncSession, merchant_id: int, *, limit: int, before: int | None = None
) -> list[tuple[Settlement, Payout | None]]:
    query = (
        select(Settlement, Payout)
        .outerjoin(Payout, Payout.settlement_id == Settlement.id)
        .where(Settlement.merchant_id == merchant_id)
        .order_by(Settlement.id.desc())
        .limit(limit)
    )
    if before is not None:
        query = query.where(Settlement.id < before)
    return [(s, p) for s, p in (await session.execute(query)).all()]


async def statement_of(
    session: AsyncSession, merchant_id: int, settlement_id: int
) -> tuple[Settlement, Payout | None]:
    """One of the shop's own statements (another shop's is simply not there)."""
    row = (
        await session.execute(
            select(Settlement, Payout)
            .outerjoin(Payout, Payout.settlement_id == Settlement.id)
            .where(Settlement.id == settlement_id, Settlement.merchant_id == merchant_id)
        )
    ).first()
    if row is None:
        raise SettlementNotFound(f"No settlement {settlement_id} for this shop.")
    return row[0], row[1]


@dataclass(frozen=True, slots=True)
class StatementLine:
    kind: str  # payment | refund
    reference: str
    payment_reference: str
    amount: int
    points: int
    money: int
    created_at: datetime


async def statement_lines(session: AsyncSession, statement: Settlement) -> list[StatementLine]:
    """The payments and refunds a statement covers, oldest first. The window's postings
    were complete and final when it was written, so this reads the same every time."""
    figures = await period_figures(
        session, statement.merchant_id, statement.period_start, statement.period_end
    )
    lines = [
        StatementLine(
            "payment", p.reference, p.reference, p.amount, p.points_used, p.money_used, p.created_at
        )
        for p in figures.paid.values()
    ]
    lines += [
        StatementLine(
            "refund",
            r.reference,
            r.payment_reference,
            r.amount,
            r.points_back,
            r.money_back,
            r.created_at,
        )
        for r in figures.refunded.values()
    ]
    return sorted(lines, key=lambda line: (line.created_at, line.reference))
