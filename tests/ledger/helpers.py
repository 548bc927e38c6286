"""Small helpers for ledger tests: fund accounts, post in their own transaction."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import ledger
from ledger import credit, debit


async def open_and_fund(
    sessionmaker: async_sessionmaker[AsyncSession], amounts: dict[str, int]
) -> None:
    async with sessionmaker() as session:
        await ledger.open_accounts(session, amounts)
        for code, amount in amounts.items():
            if amount:
                await ledger.post_entry(
                    session,
                    idempotency_key=f"fund-{uuid.uuid4().hex}",
                    kind="topup",
                    legs=[debit(ledger.BANK_SETTLEMENT, amount), credit(code, amount)],
                )
        await session.commit()


async def transfer(
    sessionmaker: async_sessionmaker[AsyncSession],
    src: str,
    dst: str,
    amount: int,
    key: str | None = None,
) -> ledger.PostedEntry:
    """Move money in its own committed transaction; raises (after rollback) on refusal."""
    async with sessionmaker() as session:
        posted = await ledger.post_entry(
            session,
            idempotency_key=key or uuid.uuid4().hex,
            kind="p2p",
            legs=[debit(src, amount), credit(dst, amount)],
        )
        await session.commit()
        return posted


async def balances(sessionmaker: async_sessionmaker[AsyncSession], *codes: str) -> list[int]:
    async with sessionmaker() as session:
        found = await ledger.get_balances(session, codes)
    return [found[c] for c in codes]
