"""The transactional outbox: facts for other systems, written in the same transaction as
the change they describe, so analytics can never see a payment that was rolled back nor
miss one that committed."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import Index, String, Text, insert, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from machipay.db import Base, BigId, UTCDateTime, table_of
from machipay.hotsql import HotStatement
from machipay.timeutil import utcnow


class OutboxEvent(Base):
    __tablename__ = "outbox_events"
    # The consumer's queue: rows not yet applied, in id order (the index stays small).
    __table_args__ = (
        Index(
            "ix_outbox_events_unprocessed",
            "id",
            postgresql_where=text("processed_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    topic: Mapped[str] = mapped_column(String(40))
    payload: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Set by the consumer in the same transaction that applies the row.
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


_INSERT = HotStatement(insert(table_of(OutboxEvent)), columns=("topic", "payload", "created_at"))


def outbox_payload(payload: dict[str, Any]) -> str:
    """How a fact is stored: JSON, keys sorted, non-ASCII kept."""
    return json.dumps(payload, ensure_ascii=False, sort_keys=True)


async def add_outbox_event(session: AsyncSession, topic: str, payload: dict[str, Any]) -> None:
    """Write the fact now, as a plain insert: it is on every payment's path."""
    await _INSERT.run_many(
        session,
        [
            {
                "topic": topic,
                "payload": outbox_payload(payload),
                "created_at": utcnow(),
            }
        ],
    )
