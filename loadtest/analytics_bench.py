"""Analytics query latency over a synthetic ward history.

``python -m loadtest.analytics_bench --payments 1000000`` (CI-sized; the goal is stated for
10,000,000): on a scratch PostgreSQL database (or ``--sqlite``), write the history with
``machipay seed --payments``'s generator, then time the analyst's questions through the
same service the HTTP route calls (disclosure control, differencing guard and query log
included), each ``--repeat`` times:

- month × street: spend, payments and distinct residents for every street, every month;
- one month × street: the same for the latest month;
- weekday × hour, ward-wide;
- age band × store type: not a rollup shape, so it reads the facts (for comparison).

Prints median and p95 per question and the write time; ``--keep`` keeps the database.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from analytics.models import Fact
from analytics.query import Query, run_query
from analytics.synthetic import HistoryPlan, generate_history
from loadtest.ledger_bench import admin_execute, database_url
from machipay.db import create_engine, make_sessionmaker
from machipay.migrate import upgrade
from machipay.settings import Settings

DEFAULT_URL = "postgresql://root@127.0.0.1:5432/postgres"
TARGET_MS = 100.0


def questions(latest_month: str) -> dict[str, Query]:
    measures = ("spend", "payments", "residents")
    return {
        "month × street (all months)": Query(measures, ("shopping_street", "month"), {}),
        "street, one month": Query(measures, ("shopping_street",), {"month": [latest_month]}),
        "weekday × hour (ward)": Query(measures, ("weekday", "hour"), {}),
        "age band × store type (facts)": Query(measures, ("age_band", "store_type"), {}),
    }


async def run(ns: argparse.Namespace) -> dict[str, Any]:
    tag = uuid.uuid4().hex[:10]
    if ns.sqlite:
        url = f"sqlite+aiosqlite:///{Path(tempfile.mkdtemp()) / 'history.db'}"
    else:
        name = f"machipay_analytics_{tag}"
        await admin_execute(ns.url, f'CREATE DATABASE "{name}"')
        url = database_url(ns.url, name)
    try:
        await asyncio.to_thread(upgrade, url)
        settings = Settings(database_url=url, environment="test")
        engine = create_engine(settings)
        sessionmaker = make_sessionmaker(engine)
        started = time.perf_counter()
        written = await generate_history(
            sessionmaker, settings, HistoryPlan(payments=ns.payments, months=ns.months)
        )
        write_s = time.perf_counter() - started
        print(f"wrote {written:,} payments over {ns.months} months in {write_s:.0f} s", flush=True)
        if not ns.sqlite:
            await admin_execute(database_url(ns.url, name, "postgresql"), "VACUUM ANALYZE")
        async with sessionmaker() as session:
            latest = await session.scalar(select(func.max(Fact.month)))
        results: dict[str, dict[str, float | int]] = {}
        for label, query in questions(str(latest)).items():
            times: list[float] = []
            cells = hidden = 0
            for _ in range(ns.repeat):
                async with sessionmaker() as session:
                    begun = time.perf_counter()
                    answer = await run_query(session, settings, query, analyst_id=1)
                    await session.commit()  # the query log is written, as over HTTP
                    times.append((time.perf_counter() - begun) * 1000)
                cells, hidden = len(answer.rows), answer.suppressed
            times.sort()
            results[label] = {
                "median_ms": statistics.median(times),
                "p95_ms": times[max(0, round(0.95 * len(times)) - 1)],
                "cells": cells,
                "suppressed": hidden,
            }
            print(
                f"  {label:<32} median {results[label]['median_ms']:7.1f} ms"
                f"  p95 {results[label]['p95_ms']:7.1f} ms  {cells} cells, {hidden} hidden",
                flush=True,
            )
        await engine.dispose()
    finally:
        if not ns.sqlite and not ns.keep:
            await admin_execute(ns.url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return {
        "machine": {"cores": os.cpu_count()},
        "database": "sqlite" if ns.sqlite else "postgresql",
        "payments": written,
        "months": ns.months,
        "write_seconds": write_s,
        "queries": results,
        "target_ms": TARGET_MS,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--payments", type=int, default=1_000_000)
    parser.add_argument("--months", type=int, default=12)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--url", default=os.environ.get("MACHIPAY_BENCH_URL", DEFAULT_URL))
    parser.add_argument("--sqlite", action="store_true", help="the embedded default instead")
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--json", type=Path, help="also write the summary here")
    ns = parser.parse_args(argv)
    summary = asyncio.run(run(ns))
    if ns.json:
        ns.json.write_text(json.dumps(summary, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
