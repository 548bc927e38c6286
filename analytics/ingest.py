"""The outbox consumer: committed payments and refunds become analytics facts.

Each batch reads unprocessed outbox rows in id order (``SKIP LOCKED``, so several workers
share the work), writes their facts and marks them processed in the same transaction. A
crash before the commit leaves every row unprocessed for the next run; a fact is keyed by
its outbox row, so applying a row twice cannot count it twice. A row that commits late
(ids are handed out before commit) is simply picked up by a later batch.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from analytics.dp_cells import add_to_dp_cells
from analytics.models import Fact
from analytics.pseudonyms import merchant_pseudonym, resident_person, resident_pseudonym
from analytics.rollups import add_to_rollups
from analytics.unnest import unnest_insert
from machipay.db import table_of, unit_of_work
from machipay.metrics import OUTBOX_LAG, OUTBOX_WAITING
from machipay.outbox import OutboxEvent
from machipay.settings import Settings
from machipay.timeutil import to_tokyo, utcnow
from merchant_api import merchant_views
from wallet_api import resident_profiles

log = logging.getLogger("machipay.analytics")
TOPICS = ("payment.completed", "payment.refunded")


def age_band(age: int) -> str:
    """Ten-year bands, top-coded at 80+ (and bottom-coded: under 20 counts as 10-19)."""
    if age >= 80:
        return "80+"
    low = max(10, age // 10 * 10)
    return f"{low}-{low + 9}"


def _fact(
    settings: Settings,
    row: OutboxEvent,
    payload: dict[str, Any],
    profile: tuple[int, str],
    view: Any,
) -> dict[str, Any]:
    local = to_tokyo(datetime.fromisoformat(payload["at"]))
    month = local.strftime("%Y-%m")
    iso = local.isocalendar()
    refund = row.topic == "payment.refunded"
    sign = -1 if refund else 1
    points = payload.get("points_back" if refund else "points_used", 0)
    reward = (
        -(payload.get("reward_points_revoked", 0) + payload.get("reward_points_unrecovered", 0))
        if refund
        else payload.get("resident_reward", 0)
    )
    birth_year, district = profile
    return {
        "source_id": row.id,
        "kind": "refund" if refund else "payment",
        "period": month,
        "resident_key": resident_pseudonym(
            settings.analytics_pseudonym_secret, month, payload["resident_id"]
        ),
        "person_key": resident_person(settings.analytics_pseudonym_secret, payload["resident_id"]),
        "merchant_key": merchant_pseudonym(
            settings.analytics_pseudonym_secret, payload["merchant_id"]
        ),
        "age_band": age_band(local.year - birth_year),
        "district_id": district,
        "shopping_street_id": view.shopping_street_id,
        "category": view.category,
        "store_type": view.store_type,
        "amount": sign * payload["amount"],
        "points_used": sign * points,
        "reward": reward,
        "local_date": local.date(),
        "month": month,
        "week": f"{iso.year}-W{iso.week:02d}",
        "weekday": iso.weekday,
        "hour": local.hour,
        "campaign_id": payload.get("campaign_id"),
    }


# Every column a fact sets (the id is the table's own), in the table's order: _fact's keys.
_FACT_COLUMNS = tuple(c.key for c in table_of(Fact).columns if c.key != "id")
_INSERT_FACTS = unnest_insert(
    table_of(Fact), _FACT_COLUMNS, "ON CONFLICT (source_id) DO NOTHING RETURNING t.source_id"
)


async def ingest_batch(session: AsyncSession, settings: Settings, *, limit: int) -> int:
    """Apply up to ``limit`` outbox rows; returns how many were processed."""
    rows = list(
        (
            await session.execute(
                select(OutboxEvent)
                .where(OutboxEvent.processed_at.is_(None))
                .order_by(OutboxEvent.id)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
        ).scalars()
    )
    if not rows:
        return 0
    wanted = [(row, json.loads(row.payload)) for row in rows if row.topic in TOPICS]
    profiles = await resident_profiles(session, sorted({p["resident_id"] for _, p in wanted}))
    views = await merchant_views(session, sorted({p["merchant_id"] for _, p in wanted}))
    facts = [
        _fact(
            settings, row, payload, profiles[payload["resident_id"]], views[payload["merchant_id"]]
        )
        for row, payload in wanted
    ]
    if facts:
        stored = await _INSERT_FACTS.execute(session, facts)
        # Only facts stored now go into the rollups: a row applied twice counts once.
        new = {row.source_id for row in stored}
        fresh = [f for f in facts if f["source_id"] in new]
        await add_to_rollups(session, fresh)
        await add_to_dp_cells(session, fresh)
    await session.execute(
        update(OutboxEvent)
        .where(OutboxEvent.id.in_([row.id for row in rows]))
        .values(processed_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return len(rows)


async def ingest_all(sessionmaker: async_sessionmaker[AsyncSession], settings: Settings) -> int:
    """Process everything that is waiting, batch by batch (one transaction each)."""
    total = 0
    while True:
        async with unit_of_work(sessionmaker) as session:
            done = await ingest_batch(session, settings, limit=settings.analytics_batch_size)
        total += done
        if done < settings.analytics_batch_size:
            return total


async def lag(session: AsyncSession) -> tuple[int, float]:
    """Rows waiting, and the age in seconds of the oldest one."""
    count, oldest = (
        await session.execute(
            select(func.count(), func.min(OutboxEvent.created_at)).where(
                OutboxEvent.processed_at.is_(None)
            )
        )
    ).one()
    age = 0.0 if oldest is None else (utcnow() - oldest).total_seconds()
    return int(count), max(0.0, age)


LAG_GAUGE_SECONDS = 5.0


async def run_consumer_forever(
    sessionmaker: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    gauges_at = 0.0
    while True:
        try:
            done = await ingest_all(sessionmaker, settings)
            if done:
                log.info("analytics facts applied", extra={"rows": done})
            # The lag gauges cost a query of their own: refreshed every few seconds, not on
            # every short poll.
            if time.monotonic() - gauges_at >= LAG_GAUGE_SECONDS:
                async with sessionmaker() as session:
                    waiting, age = await lag(session)
                OUTBOX_WAITING.set(waiting)
                OUTBOX_LAG.set(age)
                gauges_at = time.monotonic()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("analytics consumer run failed; retrying")
        await asyncio.sleep(settings.analytics_consumer_interval_seconds)
