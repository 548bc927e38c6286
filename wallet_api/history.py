"""Lines of a resident's wallet history, written as plain inserts: every payment writes
one or two, so they skip the ORM's unit of work."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from machipay.db import table_of
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
