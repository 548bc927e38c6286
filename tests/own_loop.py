"""Hypothesis drives sync test functions, so their async work needs a loop: each call here
runs on an event loop of its own, created and closed around it. Not ``asyncio.run``: it
sets the thread's current loop and clears it when done, under pytest-asyncio's own."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run_on_own_loop(work: Coroutine[Any, Any, T]) -> T:
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(work)
    finally:
        loop.close()
