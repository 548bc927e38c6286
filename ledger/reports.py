"""What the books say in sums: movements of one account in a window, totals per family of
accounts (the accounting identity), and balances as they stood at a past moment.

Settlement statements, the prepaid deposit report (資金決済法) and reconciliation read the
ledger through these functions only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from ledger.balances import live_balance, normal_side_amount
from ledger.models import Account, Entry, Posting

# Account families of the chart of accounts (DESIGN.md 3.1), by code pattern (SQL LIKE).
FAMILIES: dict[str, str] = {
    "bank:settlement": "bank:settlement",
    "bank:city": "bank:city",
    "resident money": "resident:%:money",
    "resident points": "resident:%:points",
    "resident refund": "resident:%:refund",
    "merchant payable": "merchant:%:payable",
    "merchant payout": "merchant:%:payout",
    "campaign budget": "campaign:%:budget",
    "campaign breakage": "campaign:%:breakage",
    "benefit budget": "benefit:%:budget",
    "benefit breakage": "benefit:%:breakage",
    "platform fees": "platform:fees",
}
ASSET_FAMILIES = ("bank:settlement", "bank:city")


@dataclass(frozen=True, slots=True)
class Movement:
    """What one entry did to one account, on the account's normal side (+ raises it)."""

    entry_id: int
    kind: str
    amount: int
    created_at: datetime


async def _account_id(session: AsyncSession, code: str) -> int | None:
    return (await session.execute(select(Account.id).where(Account.code == code))).scalar()


async def movements(
    session: AsyncSession,
    code: str,
    *,
    start: datetime | None,
    end: datetime,
    exclude_kinds: Sequence[str] = (),
) -> list[Movement]:
    """Entries that moved ``code`` with postings made in ``[start, end)``, oldest first.

    An account nobody has posted to yet has no movements (not an error: a shop that has
    not sold anything yet).
    """
    account_id = await _account_id(session, code)
    if account_id is None:
        return []
    conditions = [Posting.account_id == account_id, Posting.created_at < end]
    if start is not None:
        conditions.append(Posting.created_at >= start)
    if exclude_kinds:
        conditions.append(Entry.kind.not_in(list(exclude_kinds)))
    rows = await session.execute(
        select(
            Posting.entry_id,
            Entry.kind,
            func.sum(normal_side_amount()),
            func.min(Posting.created_at),
        )
        .join(Entry, Entry.id == Posting.entry_id)
        .join(Account, Account.id == Posting.account_id)
        .where(and_(*conditions))
        .group_by(Posting.entry_id, Entry.kind)
        .order_by(Posting.entry_id)
    )
    return [
        Movement(int(entry_id), str(kind), int(total), at)
        for entry_id, kind, total, at in rows
        if int(total) != 0
    ]


async def balances_by_family(session: AsyncSession) -> dict[str, int]:
    """Live totals of every family of accounts, on their normal sides (hot accounts
    included: checkpoint plus postings since)."""
    live = live_balance()
    family = case(
        *((Account.code.like(pattern), name) for name, pattern in FAMILIES.items()),
        else_="other",
    )
    rows = await session.execute(select(family, func.sum(live)).group_by(family))
    totals = dict.fromkeys(FAMILIES, 0)
    for name, total in rows:
        totals[str(name)] = totals.get(str(name), 0) + int(total or 0)
    return totals


async def total_as_of(session: AsyncSession, code_like: str, moment: datetime) -> int:
    """The sum of the balances of the (non-hot) accounts matching ``code_like`` as they
    stood at ``moment``: each account's ``balance_after`` of its last posting by then.

    Computed from postings alone, so it answers for any past moment, whatever happened
    since.
    """
    hot = (
        await session.execute(select(func.count()).where(Account.code.like(code_like), Account.hot))
    ).scalar_one()
    if hot:
        # A caller's mistake, not a refusal: never rendered to a user.
        raise ValueError(f"{code_like}: hot accounts keep no balance on their postings")
    last = (
        select(Posting.account_id, func.max(Posting.account_version).label("version"))
        .join(Account, Account.id == Posting.account_id)
        .where(Account.code.like(code_like), Posting.created_at < moment)
        .group_by(Posting.account_id)
        .subquery()
    )
    total = (
        await session.execute(
            select(func.coalesce(func.sum(Posting.balance_after), 0)).join(
                last,
                and_(
                    Posting.account_id == last.c.account_id,
                    Posting.account_version == last.c.version,
                ),
            )
        )
    ).scalar_one()
    return int(total or 0)
