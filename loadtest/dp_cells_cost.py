"""What DP mode's cells cost the analytics consumer, per fact (issue 22 item 7).

``python -m loadtest.dp_cells_cost --database machipay_dp_3m``: on a kept synthetic history,
takes ``--facts`` facts of its latest month as fresh ones and writes them in the consumer's
batches (``MACHIPAY_ANALYTICS_BATCH_SIZE``, 1,000): the facts' INSERT, the rollups
(``add_to_rollups``) and the DP cells' upsert (``add_to_dp_cells``), each timed, every
batch rolled back. Prints each part's time per fact (median over batches) with the load
average beside it: the host is shared.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from typing import Any

from sqlalchemy import func, insert, select

from analytics.dp_cells import add_to_dp_cells
from analytics.models import Fact
from analytics.rollups import add_to_rollups
from loadtest.ledger_bench import database_url
from machipay.db import create_engine, make_sessionmaker
from machipay.settings import Settings

DEFAULT_URL = "postgresql://root@127.0.0.1:5432/postgres"


async def run(ns: argparse.Namespace) -> None:
    settings = Settings(database_url=database_url(ns.url, ns.database), environment="test")
    engine = create_engine(settings)
    sessions = make_sessionmaker(engine)
    columns = [c for c in Fact.__table__.columns if c.key != "id"]
    async with sessions() as session:
        latest = await session.scalar(select(func.max(Fact.month)))
        lowest = int(await session.scalar(select(func.min(Fact.source_id))) or 0)
        rows = (
            await session.execute(
                select(*columns).where(Fact.month == latest).order_by(Fact.id).limit(ns.facts)
            )
        ).all()
    facts: list[dict[str, Any]] = [
        {**row._asdict(), "source_id": lowest - 1 - n} for n, row in enumerate(rows)
    ]
    parts: dict[str, list[float]] = {"facts": [], "rollups": [], "dp cells": []}
    batch = settings.analytics_batch_size
    for start in range(0, len(facts), batch):
        chunk = facts[start : start + batch]
        async with sessions() as session:
            for name, write in (
                ("facts", lambda c=chunk, s=session: s.execute(insert(Fact), c)),
                ("rollups", lambda c=chunk, s=session: add_to_rollups(s, c)),
                ("dp cells", lambda c=chunk, s=session: add_to_dp_cells(s, c)),
            ):
                begun = time.perf_counter()
                await write()
                parts[name].append((time.perf_counter() - begun) * 1e6 / len(chunk))
            await session.rollback()
    await engine.dispose()
    load = " ".join(f"{v:.1f}" for v in os.getloadavg())
    print(f"{len(facts):,} facts of {latest} in batches of {batch} (load {load}):")
    for name, per_fact in parts.items():
        print(f"  {name:<9} {statistics.median(per_fact):7.1f} µs a fact (median of batches)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", required=True)
    parser.add_argument("--facts", type=int, default=20_000)
    parser.add_argument("--url", default=os.environ.get("MACHIPAY_BENCH_URL", DEFAULT_URL))
    asyncio.run(run(parser.parse_args(argv)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
