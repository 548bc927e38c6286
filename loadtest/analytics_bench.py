"""Analytics query latency over a synthetic ward history.

``python -m loadtest.analytics_bench --payments 1000000`` (CI-sized; the goal is stated for
10,000,000): on a scratch PostgreSQL database, write the history with
``machipay seed --payments``'s generator, then time the analyst's questions through the
same service the HTTP route calls (disclosure control, differencing guard and query log
included), each ``--repeat`` times:

- month × street: spend, payments and distinct residents for every street, every month;
- one month × street: the same for the latest month;
- weekday × hour, ward-wide;
- age band × store type: not a rollup shape, so it reads the facts (for comparison).

Before the questions the analyst is given a history of ``--history`` earlier answered cells
(default 10,000) for the differencing guard to compare with: real cells of the synthetic
ward with their true sizes in people (every rollup shape but street and weekday × hour,
whose cells are the questions' own; per month and over all months, drawn at random among
those with k or more people), so every question is checked against all of them as over
HTTP.

Prints median and p95 per question, the write time and the size of the guard's table;
``--keep`` keeps the database (``--database NAME`` names it). ``--dp N`` also asks DP-mode
questions N times each (issue 22: ≤ 2 s), with this process's CPU time beside the wall time
and the load average beside every figure (the host is shared).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import time
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from analytics.guard import GuardRefused, Published, measure_bits, remember
from analytics.models import Fact, GuardCell, RollupCell
from analytics.query import Query, run_query
from analytics.rollups import ALL_MONTHS, SHAPES, decode
from analytics.synthetic import HistoryPlan, generate_history
from loadtest.ledger_bench import admin_execute, database_url
from machipay.db import create_engine, make_sessionmaker
from machipay.migrate import upgrade
from machipay.settings import Settings
from machipay.timeutil import to_tokyo, utcnow

DEFAULT_URL = "postgresql://root@127.0.0.1:5432/postgres"
TARGET_MS = 100.0
ANALYST = 1


def questions(latest_month: str) -> dict[str, Query]:
    measures = ("spend", "payments", "residents")
    return {
        "month × street (all months)": Query(measures, ("shopping_street", "month"), {}),
        "street, one month": Query(measures, ("shopping_street",), {"month": [latest_month]}),
        "weekday × hour (ward)": Query(measures, ("weekday", "hour"), {}),
        "age band × store type (facts)": Query(measures, ("age_band", "store_type"), {}),
    }


def dp_questions(full_month: str, months: list[str]) -> dict[str, Query]:
    """DP mode (issue 22 item 7: ≤ 2 s): a tiny ε each, so hundreds fit in a month's budget.
    ``full_month`` is the latest month the history covers whole (the current one holds only
    the days up to yesterday); the three-month question lists the last three months."""
    measures = ("spend", "payments", "residents")
    epsilon = DP_EPSILON
    return {
        "DP street, one month": Query(
            measures, ("shopping_street",), {"month": [full_month]}, "dp", epsilon
        ),
        "DP month × street, one month": Query(
            measures, ("shopping_street", "month"), {"month": [full_month]}, "dp", epsilon
        ),
        "DP month × street (3 listed months)": Query(
            measures, ("shopping_street", "month"), {"month": months[-3:]}, "dp", epsilon
        ),
        "DP age band × store type, one month": Query(
            ("spend", "average_ticket"),
            ("age_band", "store_type"),
            {"month": [full_month]},
            "dp",
            epsilon,
        ),
        "DP week, one month (open keys)": Query(
            ("payments",), ("week",), {"month": [full_month]}, "dp", epsilon
        ),
    }


DP_EPSILON = 0.001


def load() -> str:
    """The machine's load average (1, 5, 15 min): the host is shared, figures vary with it."""
    return "load " + " ".join(f"{v:.1f}" for v in os.getloadavg())


async def time_questions(
    sessionmaker: Any, settings: Settings, asked: dict[str, Query], repeat: int
) -> dict[str, dict[str, float | int | str]]:
    """Each question ``repeat`` times through ``run_query``, its log committed as over HTTP."""
    results: dict[str, dict[str, float | int | str]] = {}
    for label, query in asked.items():
        times: list[float] = []
        # This process's CPU (every thread, the DP pool's too): on a loaded host the wall
        # time is mostly waiting for a core, this is not (the database's CPU is not in it).
        cpu: list[float] = []
        cells = hidden = 0
        outcome = "answered"
        for _ in range(repeat):
            async with sessionmaker() as session:
                begun = time.perf_counter()
                cpu_begun = time.process_time()
                try:
                    answer = await run_query(session, settings, query, analyst_id=ANALYST)
                    cells, hidden = len(answer.rows), answer.suppressed
                except GuardRefused:
                    outcome = "refused"
                await session.commit()  # the query log is written, as over HTTP
                times.append((time.perf_counter() - begun) * 1000)
                cpu.append((time.process_time() - cpu_begun) * 1000)
        times.sort()
        results[label] = {
            "median_ms": statistics.median(times),
            "p95_ms": times[max(0, round(0.95 * len(times)) - 1)],
            "cells": cells,
            "suppressed": hidden,
            "outcome": outcome,
            "load": load(),
            "client_cpu_median_ms": statistics.median(cpu),
        }
        print(
            f"  {label:<36} median {results[label]['median_ms']:8.1f} ms"
            f"  p95 {results[label]['p95_ms']:8.1f} ms  {cells} cells, {hidden} hidden"
            f" ({outcome}; CPU here {statistics.median(cpu):.0f} ms; {load()})",
            flush=True,
        )
    return results


# Every shape but those the questions read (their cells would be the questions' own).
HISTORY_SHAPES = tuple(shape for shape in SHAPES if shape not in ("street", "weekday_hour"))
HISTORY_MEASURES = (("spend", "payments", "residents"), ("spend",), ("residents",))


async def load_history(
    session: AsyncSession, analyst_id: int, cells: int, k: int, seed: int = 18
) -> int:
    """Give the analyst ``cells`` earlier answered cells, as the guard would have kept them."""
    rows = (
        await session.execute(
            select(RollupCell.shape, RollupCell.month, RollupCell.cell, RollupCell.residents).where(
                RollupCell.shape.in_(HISTORY_SHAPES), RollupCell.residents >= k
            )
        )
    ).all()
    rng = random.Random(seed)
    picked = rng.sample(rows, min(cells, len(rows)))
    history = []
    for shape, month, cell, people in picked:
        predicate = {
            name: frozenset([value])
            for name, value in zip(SHAPES[shape], decode(shape, cell), strict=True)
        }
        if month != ALL_MONTHS:
            predicate["month"] = frozenset([month])
        history.append(
            Published(predicate, int(people), measure_bits(rng.choice(HISTORY_MEASURES)))
        )
    # What the analyst's answers would have left, written as they would be: through the
    # guard's own upsert (one statement for every cell, not one query per cell).
    await remember(session, analyst_id, history)
    return len(history)


async def guard_storage(session: AsyncSession, analyst_id: int) -> dict[str, int]:
    """Rows of the guard's table and its bytes with indexes."""
    rows = int(
        await session.scalar(
            select(func.count()).select_from(GuardCell).where(GuardCell.analyst_id == analyst_id)
        )
        or 0
    )
    size = await session.scalar(text("SELECT pg_total_relation_size('analytics_guard_cells')"))
    return {"rows": rows, "bytes": int(size or 0)}


async def run(ns: argparse.Namespace) -> dict[str, Any]:
    tag = uuid.uuid4().hex[:10]
    name = ns.reuse or ns.database or f"machipay_analytics_{tag}"
    if not ns.reuse:
        await admin_execute(ns.url, f'CREATE DATABASE "{name}"')
    url = database_url(ns.url, name)
    try:
        await asyncio.to_thread(upgrade, url)
        # The bench asks more than an analyst's daily allowance would let one person ask.
        settings = Settings(database_url=url, environment="test", analytics_queries_per_day=10**6)
        engine = create_engine(settings)
        sessionmaker = make_sessionmaker(engine)
        started = time.perf_counter()
        if ns.reuse:
            async with sessionmaker() as session:
                written = int(await session.scalar(select(func.count()).select_from(Fact)) or 0)
                # A fresh analyst history on the kept facts, in a table as new (its size
                # is what a history of that many cells takes).
                await session.execute(text("TRUNCATE analytics_guard_cells"))
                await session.commit()
        else:
            written = await generate_history(
                sessionmaker, settings, HistoryPlan(payments=ns.payments, months=ns.months)
            )
        write_s = time.perf_counter() - started
        print(
            f"wrote {written:,} payments over {ns.months} months in {write_s:.0f} s ({load()})",
            flush=True,
        )
        if not ns.reuse:
            await admin_execute(database_url(ns.url, name, "postgresql"), "VACUUM ANALYZE")
        async with sessionmaker() as session:
            latest = await session.scalar(select(func.max(Fact.month)))
            begun = time.perf_counter()
            history = await load_history(
                session, ANALYST, ns.history, settings.analytics_min_residents
            )
            await session.commit()
            history_s = time.perf_counter() - begun
        # As autovacuum would leave it: statistics of the new rows, no dead ones (--reuse).
        await admin_execute(
            database_url(ns.url, name, "postgresql"), "VACUUM ANALYZE analytics_guard_cells"
        )
        async with sessionmaker() as session:
            before = await guard_storage(session, ANALYST)
        print(
            f"analyst history: {history:,} earlier cells in {history_s:.1f} s, {before}",
            flush=True,
        )
        asked = {
            label: query
            for label, query in questions(str(latest)).items()
            if not (ns.skip_facts and "(facts)" in label)
        }
        results = await time_questions(sessionmaker, settings, asked, ns.repeat)
        if ns.dp:
            async with sessionmaker() as session:
                counted = dict(
                    (await session.execute(select(Fact.month, func.count()).group_by(Fact.month)))
                    .tuples()
                    .all()
                )
                months = sorted(counted)
                # A bench database's own budget: every run starts with the whole of it.
                await session.execute(text("DELETE FROM analytics_dp_month_budgets"))
                await session.commit()
            dp_settings = settings.model_copy(
                update={
                    "analytics_dp_epsilon_per_data_month": 10.0,
                    "analytics_first_data_month": months[0],
                }
            )
            current = to_tokyo(utcnow()).strftime("%Y-%m")
            full_month = max((m for m in months if m < current), default=months[-1])
            print(
                f"DP mode, ε = {DP_EPSILON} a query, {ns.dp} times each; facts per month:"
                f" {counted} (one month: {full_month})",
                flush=True,
            )
            results |= await time_questions(
                sessionmaker, dp_settings, dp_questions(full_month, months), ns.dp
            )
        async with sessionmaker() as session:
            after = await guard_storage(session, ANALYST)
        print(f"guard table after the questions: {after}", flush=True)
        await engine.dispose()
    finally:
        if not ns.keep and not ns.reuse:
            await admin_execute(ns.url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return {
        "machine": {"cores": os.cpu_count()},
        "payments": written,
        "months": ns.months,
        "write_seconds": write_s,
        "queries": results,
        "target_ms": TARGET_MS,
        "guard_history_cells": history,
        "guard_history_seconds": history_s,
        "guard_table": {"before": before, "after": after},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--payments", type=int, default=1_000_000)
    parser.add_argument("--months", type=int, default=12)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument(
        "--history", type=int, default=10_000, help="earlier answered cells of the analyst"
    )
    parser.add_argument("--url", default=os.environ.get("MACHIPAY_BENCH_URL", DEFAULT_URL))
    parser.add_argument(
        "--skip-facts", action="store_true", help="leave out the question that reads the facts"
    )
    parser.add_argument("--keep", action="store_true")
    parser.add_argument(
        "--database", help="the new database's name (default: machipay_analytics_<random>)"
    )
    parser.add_argument(
        "--reuse", metavar="DATABASE", help="ask on a history kept by --keep, without writing"
    )
    parser.add_argument("--json", type=Path, help="also write the summary here")
    parser.add_argument(
        "--dp", type=int, default=0, metavar="N", help="also time DP-mode questions, N times each"
    )
    ns = parser.parse_args(argv)
    summary = asyncio.run(run(ns))
    if ns.json:
        ns.json.write_text(json.dumps(summary, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
