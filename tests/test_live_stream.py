"""The shop dashboard's event stream outlives its heartbeats and ends quietly when the tab
closes (no ``StopAsyncIteration`` traceback in the server's log)."""

from __future__ import annotations

import asyncio
import logging

import httpx
import pytest
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import StreamingResponse

from machipay.events import MemoryBroker
from payments import live
from tests.conftest import free_port


async def _never() -> bool:
    return False


async def test_the_stream_keeps_delivering_after_a_heartbeat(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(live, "HEARTBEAT_SECONDS", 0.01)
    broker = MemoryBroker()
    stream = live.merchant_event_stream(broker, 7, _never)
    try:
        assert await anext(stream) == ": connected\n\n"
        assert await anext(stream) == ": keep-alive\n\n"
        assert await anext(stream) == ": keep-alive\n\n"
        await broker.publish(live.merchant_channel(7), {"type": "payment", "amount": 500})
        for _ in range(1000):  # keep-alives until the event (bounded)
            item = await anext(stream)
            if item.startswith("event: "):
                break
        assert item.startswith("event: payment\n") and '"amount": 500' in item
    finally:
        await stream.aclose()
    assert not broker._queues[live.merchant_channel(7)]  # unsubscribed


async def test_closing_the_dashboard_logs_no_traceback(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # A real server and a client that goes away mid-stream, as a closed tab does.
    monkeypatch.setattr(live, "HEARTBEAT_SECONDS", 0.02)
    broker = MemoryBroker()
    app = FastAPI()

    @app.get("/events")
    async def events(request: Request) -> StreamingResponse:
        return StreamingResponse(
            live.merchant_event_stream(broker, 1, request.is_disconnected),
            media_type="text/event-stream",
        )

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None))
    task = asyncio.create_task(server.serve())
    for _ in range(400):
        if server.started:
            break
        await asyncio.sleep(0.05)
    caplog.set_level(logging.DEBUG)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            for _ in range(3):  # three tabs opened and closed
                async with client.stream("GET", "/events") as stream:
                    lines = stream.aiter_lines()
                    assert await anext(lines) == ": connected"
                    while await anext(lines) != ": keep-alive":
                        pass
                    while await anext(lines) != ": keep-alive":
                        pass
        for _ in range(100):  # the server notices each disconnect (bounded wait)
            if not any(broker._queues.values()):
                break
            await asyncio.sleep(0.05)
        assert not any(broker._queues.values()), "a closed stream still subscribed"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, timeout=20)
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert not errors, [r.getMessage() for r in errors]
    assert "StopAsyncIteration" not in caplog.text
