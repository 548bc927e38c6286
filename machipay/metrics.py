"""Prometheus metrics: request counts and latency histograms by route template.

With several worker processes (``machipay serve --workers N``) each worker writes its
samples to files in ``PROMETHEUS_MULTIPROC_DIR`` (set by the CLI before the workers start)
and ``/metrics`` adds them up, so a scrape sees the whole server, not one worker.
"""

from __future__ import annotations

import asyncio
import gc
import os
import time

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

REGISTRY = CollectorRegistry(auto_describe=True)

REQUESTS = Counter(
    "machipay_http_requests_total",
    "HTTP requests by method, route template and status.",
    ["method", "route", "status"],
    registry=REGISTRY,
)
LATENCY = Histogram(
    "machipay_http_request_duration_seconds",
    "HTTP request latency by method and route template.",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
    registry=REGISTRY,
)

# Admission control on the money-moving routes (machipay/admission.py): each request is
# admitted (possibly after a short wait) or refused with 503 before any work.
ADMISSIONS = Counter(
    "machipay_payment_admissions_total",
    "Money-moving requests admitted or refused (503 overloaded) by the admission gate.",
    ["outcome"],
    registry=REGISTRY,
)
PAYMENTS_IN_FLIGHT = Gauge(
    "machipay_payments_in_flight",
    "Money-moving requests holding an admission slot (summed over live workers).",
    registry=REGISTRY,
    multiprocess_mode="livesum",
)

# Payment group commit (payments/group_commit.py): how many payments each batch held, and
# how many were paid on their own after a batch (routed out of it, or the batch failed).
PAYMENT_BATCH_SIZE = Histogram(
    "machipay_payment_batch_size",
    "Payments per group-commit batch (one transaction, one COMMIT).",
    buckets=(1, 2, 4, 8, 16, 32, 60),
    registry=REGISTRY,
)
# Where a group-committed payment's time goes: waiting in its worker's queue for a flusher,
# then its batch's unit of work (BEGIN to COMMIT).
_BATCH_SECONDS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.5, 1)
PAYMENT_BATCH_WAIT = Histogram(
    "machipay_payment_batch_wait_seconds",
    "Time a sticker payment waited in its worker's queue before its batch began.",
    buckets=_BATCH_SECONDS,
    registry=REGISTRY,
)
PAYMENT_BATCH_DURATION = Histogram(
    "machipay_payment_batch_duration_seconds",
    "A payment batch's unit of work, from its first statement to its COMMIT.",
    buckets=_BATCH_SECONDS,
    registry=REGISTRY,
)
# How late a worker's event loop runs what is ready: every await of a request (a database
# answer, a Redis reply) waits this long behind the other requests' Python before it goes on,
# so it is added to each round trip. Sampled by a timer (watch_event_loop_lag).
EVENT_LOOP_LAG = Histogram(
    "machipay_event_loop_lag_seconds",
    "How much later than asked a worker's event loop woke a timer (its ready queue's wait).",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1),
    registry=REGISTRY,
)
GC_PAUSE = Histogram(
    "machipay_gc_pause_seconds",
    "How long each full (generation 2) garbage collection stopped a worker.",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1),
    registry=REGISTRY,
)
PAYMENTS_PAID_ALONE = Counter(
    "machipay_payments_paid_alone_total",
    "Sticker payments paid on their own after their batch, by why.",
    ["reason"],
    registry=REGISTRY,
)

# Gauges in multiprocess mode: the most recent value written by any worker.
OUTBOX_WAITING = Gauge(
    "machipay_analytics_outbox_waiting",
    "Outbox rows not yet applied to the analytics facts.",
    registry=REGISTRY,
    multiprocess_mode="mostrecent",
)
OUTBOX_LAG = Gauge(
    "machipay_analytics_outbox_lag_seconds",
    "Age of the oldest outbox row not yet applied (0 when none waits).",
    registry=REGISTRY,
    multiprocess_mode="mostrecent",
)


def _route_template(scope: Scope) -> str:
    # Label by template (/api/v1/merchants/{id}), never the raw path: ids would explode
    # cardinality. The router records the matched route in the scope.
    route = scope.get("route")
    return str(getattr(route, "path", None) or "unmatched")


class MetricsMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = _route_template(scope)
            method = scope.get("method", "GET")
            REQUESTS.labels(method, route, str(status)).inc()
            LATENCY.labels(method, route).observe(time.perf_counter() - started)


async def metrics_endpoint(_request: Request) -> Response:
    registry = REGISTRY
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


async def watch_event_loop_lag(interval: float = 0.05) -> None:
    """Observe :data:`EVENT_LOOP_LAG` every ``interval`` seconds, until cancelled."""
    # perf_counter, not loop.time(): uvloop's clock is in whole milliseconds, cached per turn.
    while True:
        asked = time.perf_counter() + interval
        await asyncio.sleep(interval)
        EVENT_LOOP_LAG.observe(max(0.0, time.perf_counter() - asked))


_gc_started: float | None = None


def _time_full_collection(phase: str, info: dict[str, int]) -> None:
    global _gc_started
    if info["generation"] != 2:  # the young ones run often and take microseconds
        return
    if phase == "start":
        _gc_started = time.perf_counter()
    elif _gc_started is not None:
        GC_PAUSE.observe(time.perf_counter() - _gc_started)
        _gc_started = None


def watch_gc_pauses() -> None:
    """Observe :data:`GC_PAUSE` for every full collection of this process (once is enough)."""
    if _time_full_collection not in gc.callbacks:
        gc.callbacks.append(_time_full_collection)
