"""Admission control on the money-moving path: a bounded number of requests in flight per
worker process, a short bounded wait for a slot, and beyond it an immediate 503.

Why: on the first morning of a campaign four times the usual payers arrive at once. Without
a bound every request is let in, they all queue for the same database connections and CPU,
and every payment gets slow (issue 20: p99 9 s at 256 payers, none refused). With a bound
the admitted payments run at the speed the machine has, and the excess is told at once to
come back a little later, with the same ``Idempotency-Key`` (nothing of it was written, so
the retry is a first attempt).

The gate sits in an ASGI middleware in front of the router, so a refusal costs no body
parsing, no token check, no rate-limit round trip and no database work. Routes opt in with
:func:`admission_controlled`; ``assembly.app`` hands the marked routes to the middleware.

The gate is one counter and a FIFO of waiters on the worker's event loop: a released slot is
handed to the oldest waiter directly (no lock, no herd of waiters waking to race for it).
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Receive, Scope, Send

from machipay.errors import ServiceUnavailable
from machipay.metrics import ADMISSIONS, PAYMENTS_IN_FLIGHT
from machipay.problems import PROBLEM_MEDIA_TYPE

# A refused client is told to come back after 1 s plus up to 1 s of jitter: long enough for
# the admitted payments ahead of it to finish (they take tens to hundreds of milliseconds),
# spread so that the refused do not all return in the same instant.
RETRY_AFTER_MS = 1_000
RETRY_JITTER_MS = 1_000
# /readyz says "saturated" for this long after a refusal, so a load balancer that polls it
# every second or so sees the refusals it would otherwise miss between two polls.
SATURATION_MEMORY_S = 1.0

_F = TypeVar("_F", bound=Callable[..., Any])
_MARK = "__machipay_admission_controlled__"


class Overloaded(ServiceUnavailable):
    type_slug = "overloaded"
    title = "Too busy right now"


def admission_controlled(endpoint: _F) -> _F:
    """Mark a route's endpoint: its requests pass the worker's admission gate first. Put it
    under the ``@router.post(...)`` line, so the router registers the marked function."""
    setattr(endpoint, _MARK, True)
    return endpoint


def controlled_routes(routes: Iterable[BaseRoute]) -> list[BaseRoute]:
    """The routes whose endpoints are marked with :func:`admission_controlled`."""
    return [r for r in routes if getattr(getattr(r, "endpoint", None), _MARK, False)]


class AdmissionGate:
    """At most ``limit`` holders at a time; a newcomer waits up to ``wait_s`` for a slot."""

    def __init__(
        self, limit: int, wait_s: float, *, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        if limit < 1:
            raise ValueError("the admission limit must be at least 1")
        self.limit = limit
        self.wait_s = max(0.0, wait_s)
        self.in_flight = 0
        self.admitted = 0
        self.refused = 0
        self._waiters: deque[asyncio.Future[bool]] = deque()
        self.clock = monotonic
        self._last_refused = -math.inf

    @property
    def waiting(self) -> int:
        return sum(1 for w in self._waiters if not w.done())

    def saturated(self) -> bool:
        """At the limit now, or refused someone within the last second."""
        return (
            self.in_flight >= self.limit or self.clock() - self._last_refused < SATURATION_MEMORY_S
        )

    async def acquire(self) -> bool:
        """True: a slot is held (call :meth:`release`). False: refused, nothing is held."""
        # Below the limit nobody waits: release() hands a slot to a live waiter before it
        # ever lowers the count.
        if self.in_flight < self.limit:
            self._admit()
            return True
        if self.wait_s <= 0:
            return self._refuse()
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[bool] = loop.create_future()
        self._waiters.append(waiter)
        timer = loop.call_later(self.wait_s, _expire, waiter)
        try:
            got_slot = await waiter
        except asyncio.CancelledError:
            # The client went away. If the slot had already been handed over, pass it on.
            if waiter.done() and not waiter.cancelled() and waiter.result():
                self.release()
            raise
        finally:
            timer.cancel()
            self._drop_settled()
        if not got_slot:
            return self._refuse()
        self.admitted += 1
        ADMISSIONS.labels("admitted").inc()
        return True

    def release(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                # The slot changes hands: in_flight stays as it is.
                waiter.set_result(True)
                return
        self.in_flight -= 1
        PAYMENTS_IN_FLIGHT.dec()

    def _admit(self) -> None:
        self.in_flight += 1
        self.admitted += 1
        ADMISSIONS.labels("admitted").inc()
        PAYMENTS_IN_FLIGHT.inc()

    def _refuse(self) -> bool:
        self.refused += 1
        self._last_refused = self.clock()
        ADMISSIONS.labels("refused").inc()
        return False

    def _drop_settled(self) -> None:
        # Expired and cancelled waiters leave from the front (amortised O(1)); one further
        # back is skipped by release() when its turn comes.
        while self._waiters and self._waiters[0].done():
            self._waiters.popleft()


def _expire(waiter: asyncio.Future[bool]) -> None:
    if not waiter.done():
        waiter.set_result(False)


def overloaded_response(path: str) -> JSONResponse:
    """503 problem+json with ``Retry-After`` (whole seconds, as HTTP has it) and the jittered
    wait in milliseconds (``retry_after_ms``, never earlier than the header)."""
    wait_ms = RETRY_AFTER_MS + random.randrange(RETRY_JITTER_MS)  # noqa: S311 - jitter, not a secret
    error = Overloaded(
        "Payments are very busy right now. Nothing was done: send the same request again, "
        "with the same Idempotency-Key, after Retry-After.",
        retry_after_ms=wait_ms,
    )
    return JSONResponse(
        error.to_problem(instance=path),
        status_code=error.status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers={"Retry-After": str(wait_ms // 1000), "Cache-Control": "no-store"},
    )


class AdmissionMiddleware:
    """Passes requests for the controlled routes through the gate; others go straight on."""

    def __init__(self, app: ASGIApp, gate: AdmissionGate, routes: Sequence[BaseRoute]) -> None:
        self.app = app
        self.gate = gate
        self.routes = tuple(routes)

    def _controlled(self, scope: Scope) -> BaseRoute | None:
        for route in self.routes:
            match, _ = route.matches(scope)
            if match is Match.FULL:
                return route
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Every controlled route moves money, so only POSTs are looked at.
        route = None
        if scope["type"] == "http" and scope["method"] == "POST":
            route = self._controlled(scope)
        if route is None:
            await self.app(scope, receive, send)
            return
        if not await self.gate.acquire():
            scope["route"] = route  # so the request metrics name the route, not "unmatched"
            await overloaded_response(scope["path"])(scope, receive, send)
            return
        try:
            await self.app(scope, receive, send)
        finally:
            self.gate.release()
