"""Where DP queries compute: a bounded pool of threads at a lower OS priority.

OpenDP and Polars work in native code, so one DP query could hold a CPU for seconds; on
the API worker's event loop it would stall every payment that worker serves. Here it runs
on at most ``analytics_dp_workers`` threads (each niced, so the kernel serves the payment
path first), with at most ``analytics_dp_queue`` more queries waiting; one more is turned
away with 503 + Retry-After before it spends any ε or reads any fact.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from machipay.errors import ServiceUnavailable
from machipay.settings import Settings

T = TypeVar("T")
# How much lower than the API's own threads (nice 0) a DP thread runs.
NICENESS = 10


class DpBusy(ServiceUnavailable):
    type_slug = "analytics-dp-busy"
    title = "Too many DP queries at once"


_lock = threading.Lock()
_in_flight = 0
_executor: ThreadPoolExecutor | None = None
_workers = 0


def _lower_priority() -> None:
    # Linux nices threads one by one: this thread only, not the API worker.
    with contextlib.suppress(OSError, AttributeError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), NICENESS)


def _pool(settings: Settings) -> ThreadPoolExecutor:
    global _executor, _workers
    with _lock:
        if _executor is None or _workers != settings.analytics_dp_workers:
            if _executor is not None:
                _executor.shutdown(wait=False)
            _workers = settings.analytics_dp_workers
            _executor = ThreadPoolExecutor(
                max_workers=_workers, thread_name_prefix="dp", initializer=_lower_priority
            )
        return _executor


@contextlib.contextmanager
def admitted(settings: Settings) -> Iterator[None]:
    """A place for one DP query, computing or queued, for as long as the block runs; 503
    when every place is taken."""
    global _in_flight
    with _lock:
        if _in_flight >= settings.analytics_dp_workers + settings.analytics_dp_queue:
            seconds = settings.analytics_dp_retry_after_seconds
            raise DpBusy(
                f"Too many DP queries at once: try again in {seconds} s (no ε was spent).",
                retry_after=seconds,
            )
        _in_flight += 1
    try:
        yield
    finally:
        with _lock:
            _in_flight -= 1


def in_flight() -> int:
    return _in_flight


async def compute(settings: Settings, work: Callable[[], T]) -> T:
    """``work()`` on the DP pool; the event loop stays free for everything else."""
    return await asyncio.get_running_loop().run_in_executor(_pool(settings), work)
