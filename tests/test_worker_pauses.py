"""What stalls a worker's event loop is measured (its lag, its full garbage collections), and
a serving worker collects rarely."""

from __future__ import annotations

import asyncio
import gc
import subprocess
import sys
import time

from machipay.metrics import (
    EVENT_LOOP_LAG,
    GC_PAUSE,
    watch_event_loop_lag,
    watch_gc_pauses,
)


def _count(histogram: object, bound: float | None = None) -> float:
    """Observations so far (those at or above ``bound`` when given)."""
    total = above = 0.0
    for metric in histogram.collect():  # type: ignore[attr-defined]
        for sample in metric.samples:
            if sample.name.endswith("_count"):
                total = sample.value
            elif bound is not None and sample.name.endswith("_bucket"):
                le = float(sample.labels["le"])
                if le < bound:
                    above = max(above, sample.value)
    return total if bound is None else total - above


async def test_a_blocked_event_loop_is_seen_as_lag() -> None:
    before, late_before = _count(EVENT_LOOP_LAG), _count(EVENT_LOOP_LAG, 0.025)
    watcher = asyncio.create_task(watch_event_loop_lag(interval=0.01))
    try:
        await asyncio.sleep(0.05)
        # A callback that does not yield: the timer wakes ≥ 70 ms late.
        time.sleep(0.08)  # noqa: ASYNC251 - the stall under test
        await asyncio.sleep(0.05)
    finally:
        watcher.cancel()
    assert _count(EVENT_LOOP_LAG) >= before + 3
    assert _count(EVENT_LOOP_LAG, 0.025) >= late_before + 1


def test_full_collections_are_timed_and_young_ones_are_not() -> None:
    watch_gc_pauses()
    watch_gc_pauses()  # installing twice times each collection once
    before = _count(GC_PAUSE)
    gc.collect(0)
    gc.collect(1)
    assert _count(GC_PAUSE) == before
    gc.collect()
    assert _count(GC_PAUSE) == before + 1


def test_a_serving_worker_freezes_its_start_up_and_collects_rarely() -> None:
    # In a process of its own: freezing keeps the test process's garbage for good.
    shown = subprocess.run(
        [
            sys.executable,
            "-c",
            "import gc; from assembly.app import GC_THRESHOLDS, freeze_startup_objects;"
            "freeze_startup_objects();"
            "print(gc.get_threshold() == GC_THRESHOLDS, gc.get_freeze_count() > 10_000,"
            " GC_THRESHOLDS[0] >= 10_000)",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert shown.stdout.split() == ["True", "True", "True"]
