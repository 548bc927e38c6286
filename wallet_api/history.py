"""Lines of a resident's wallet history, written as plain inserts: every payment writes
one or two, so they skip the ORM's unit of work."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from machipay.db import table_of
from machipay.errors import NotFound
from machipay.hotsql import HotStatement
from wallet_api.models import WalletTransaction

_COLUMNS = (
    "resident_id",
    "reference",
    "kind",
    "amount",
    "money_change",
    "points_change",
    "counterparty",
    "message",
    "entry_id",
    "created_at",
)
_INSERT = HotStatement(insert(table_of(WalletTransaction)), columns=_COLUMNS)


def history_row(
    *,
    resident_id: int,
    reference: str,
    kind: str,
    amount: int,
    entry_id: int,
    at: datetime,
    money_change: int = 0,
    points_change: int = 0,
    counterparty: str | None = None,
    message: str | None = None,
) -> dict[str, Any]:
    return {
        "resident_id": resident_id,
        "reference": reference,
        "kind": kind,
        "amount": amount,
        "money_change": money_change,
        "points_change": points_change,
        "counterparty": counterparty,
        "message": message,
        "entry_id": entry_id,
        "created_at": at,
    }


async def write_history(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """One statement for all the lines (one round trip)."""
    await _INSERT.run_many(session, rows)


class TransactionNotFound(NotFound):
    type_slug = "transaction-not-found"
    title = "Unknown transaction"


@dataclass(frozen=True, slots=True)
class HistoryLine:
    """One line as other contexts read it (the model stays the wallet's own)."""

    reference: str
    kind: str
    amount: int
    money_change: int
    points_change: int
    counterparty: str | None
    message: str | None
    created_at: datetime


async def history_line(session: AsyncSession, resident_id: int, reference: str) -> HistoryLine:
    """One line of the resident's own history; another resident's line is simply not there
    (both sides of a transfer share its reference, each has a line of their own)."""
    line = (
        await session.execute(
            select(WalletTransaction)
            .where(
                WalletTransaction.resident_id == resident_id,
                WalletTransaction.reference == reference,
            )
            .order_by(WalletTransaction.id)
            .limit(1)
        )
    ).scalar_one_or_none()
    if line is None:
        raise TransactionNotFound(f"No transaction {reference!r} in your history.")
    return HistoryLine(
        line.reference,
        line.kind,
        line.amount,
        line.money_change,
        line.points_change,
        line.counterparty,
        line.message,
        line.created_at,
    )


def reward_points_revoked(line: WalletTransaction | HistoryLine) -> int:
    """What a refund line took back of the points the payment had earned: the refund gives
    back its amount (as points and money) less the rewards revoked (payments.refunds)."""
    if line.kind != "refund":
        return 0
    return line.amount - line.money_change - line.points_change
