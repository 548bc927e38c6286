"""A campaign budget without overspend and without a global lock (DESIGN.md 3.3).

The budget is cut into shards, rows with a ``remaining`` column that a CHECK keeps at or
above zero. A reward takes its amount from one shard with a conditional UPDATE:

1. the first shard, counting from the resident's own, that has enough and that no other
   transaction holds right now (``FOR UPDATE SKIP LOCKED``): the usual case, never waits;
2. else every shard, locked in shard order: the others were busy, or what is left is less
   than the reward (or scattered in crumbs). The reward gets what there is, the last yen
   exactly once, and a budget that reaches zero ends the campaign.

Both steps are one call of ``campaign_reserve`` (``campaigns/sql/campaign_reserve.sql``); the
first runs in a subtransaction so that no stray row lock is held while the second waits.

Only approved campaigns give: each reservation re-reads the status, so a campaign ended by
hand or by its budget stops granting at the commit that ended it.
A payment reserves from its campaigns in id order, so two payments never wait on each
other's shards in opposite orders.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import and_, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from campaigns.models import BudgetShard


@dataclass(frozen=True, slots=True)
class Reservation:
    amount: int  # what was reserved: the amount asked for, or less when the budget ran out
    exhausted: bool  # nothing is left: the campaign ends


def split_budget(budget: int, shards: int) -> list[int]:
    """Even slices, the odd yen on the first ones, so the slices add up to the budget."""
    base, extra = divmod(budget, shards)
    return [base + (1 if index < extra else 0) for index in range(shards)]


async def reserve(
    session: AsyncSession, campaign_id: int, amount: int, *, shards: int, home: int
) -> Reservation:
    """Take ``amount`` (or what is left, if less) from the campaign's budget shards."""
    if amount <= 0:
        return Reservation(0, False)
    home %= shards
    # Both steps in one round trip: campaigns/sql/campaign_reserve.sql.
    row = (
        await session.execute(
            text("SELECT reserved, exhausted FROM campaign_reserve(:c, :a, :h, :n)"),
            {"c": campaign_id, "a": amount, "h": home, "n": shards},
        )
    ).one()
    return Reservation(int(row.reserved), bool(row.exhausted))


async def give_back(session: AsyncSession, campaign_id: int, amount: int, *, home: int) -> None:
    """Return revoked rewards to a shard of a campaign that is not closed."""
    if amount <= 0:
        return
    for shard in dict.fromkeys((home, 0)):  # shard 0 always exists, whatever the count was
        result = await session.execute(
            update(BudgetShard)
            .where(BudgetShard.campaign_id == campaign_id, BudgetShard.shard == shard)
            .values(remaining=BudgetShard.remaining + amount)
            .returning(BudgetShard.shard)
            .execution_options(synchronize_session=False)
        )
        if result.first() is not None:
            return
    raise RuntimeError(f"campaign {campaign_id} has no budget shards to return {amount} to")


async def remaining_budgets(session: AsyncSession, campaign_ids: list[int]) -> dict[int, int]:
    if not campaign_ids:
        return {}
    rows = await session.execute(
        select(BudgetShard.campaign_id, func.sum(BudgetShard.remaining))
        .where(BudgetShard.campaign_id.in_(campaign_ids))
        .group_by(BudgetShard.campaign_id)
    )
    found = {int(c): int(r or 0) for c, r in rows}
    return {c: found.get(c, 0) for c in campaign_ids}


async def lock_shards(session: AsyncSession, campaign_id: int) -> int:
    """Lock every shard (waiting for payments still reserving) and return what is left."""
    rows = (
        await session.execute(
            select(BudgetShard.remaining)
            .where(BudgetShard.campaign_id == campaign_id)
            .order_by(BudgetShard.shard)
            .with_for_update()
        )
    ).scalars()
    return sum(int(r) for r in rows)


async def empty_shards(session: AsyncSession, campaign_id: int) -> None:
    """Zero the (locked) shards of a closing campaign."""
    await session.execute(
        update(BudgetShard)
        .where(and_(BudgetShard.campaign_id == campaign_id, BudgetShard.remaining > 0))
        .values(remaining=0)
        .execution_options(synchronize_session=False)
    )
