"""Server-Sent Events reach the shop after commit, through a real HTTP server (uvicorn) and,
on PostgreSQL runs, Redis pub/sub; nothing is sent for a refused payment. How fast is not
asserted: speed belongs in BENCHMARKS.md, never in a timed assert."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
import uvicorn

from assembly.app import create_app
from machipay.settings import Settings
from tests.api.conftest import register, top_up
from tests.api.shops import open_shop, sticker_payload
from tests.conftest import free_port


@pytest.fixture
async def live_server(app_settings: Settings) -> AsyncIterator[tuple[str, object]]:
    app = create_app(app_settings, configure_logs=False)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="on")
    )
    task = asyncio.create_task(server.serve())
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline and not task.done(), "uvicorn did not start"
        await asyncio.sleep(0.05)
    yield f"http://127.0.0.1:{port}", app
    server.should_exit = True
    await asyncio.wait_for(task, timeout=20)


async def test_the_shop_sees_payments_and_refunds_live(live_server: tuple[str, object]) -> None:
    base, app = live_server
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        shop = await open_shop(client, app)  # type: ignore[arg-type]
        payload = await sticker_payload(client, shop)
        resident = await register(client, sink=app.state.sms)  # type: ignore[attr-defined]
        await top_up(client, resident.wallet_id, 3_000)
        received: list[tuple[str, dict[str, object]]] = []
        connected = asyncio.Event()

        async def listen() -> None:
            async with client.stream(
                "GET", "/api/v1/merchant/events", headers=shop.headers, timeout=None
            ) as stream:
                assert stream.status_code == 200
                assert stream.headers["content-type"].startswith("text/event-stream")
                event = None
                async for line in stream.aiter_lines():
                    if line.startswith(": connected"):
                        connected.set()
                    elif line.startswith("event: "):
                        event = line.removeprefix("event: ")
                    elif line.startswith("data: ") and event:
                        received.append((event, json.loads(line.removeprefix("data: "))))
                        if len(received) == 2:
                            return

        listener = asyncio.create_task(listen())
        await asyncio.wait_for(connected.wait(), timeout=5)
        refused = await client.post(
            "/api/v1/payments",
            json={"qr_payload": payload, "amount": 9_999},
            headers=resident.headers | {"Idempotency-Key": uuid.uuid4().hex},
        )
        assert refused.status_code == 402
        paid = await client.post(
            "/api/v1/payments",
            json={"qr_payload": payload, "amount": 1_500},
            headers=resident.headers | {"Idempotency-Key": uuid.uuid4().hex},
        )
        assert paid.status_code == 201
        refunded = await client.post(
            f"/api/v1/merchant/payments/{paid.json()['id']}/refunds",
            json={"amount": 500},
            headers=shop.headers | {"Idempotency-Key": uuid.uuid4().hex},
        )
        assert refunded.status_code == 201
        await asyncio.wait_for(listener, timeout=5)

    (first, data), (second, refund_data) = received
    assert (first, data["id"], data["amount"]) == (
        "payment",
        paid.json()["id"],
        1_500,
    )  # not the refused one
    assert (second, refund_data["payment"], refund_data["amount"]) == (
        "refund",
        paid.json()["id"],
        500,
    )


async def test_events_need_a_merchant_token(live_server: tuple[str, object]) -> None:
    base, app = live_server
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        assert (await client.get("/api/v1/merchant/events")).status_code == 401
        resident = await register(client, sink=app.state.sms)  # type: ignore[attr-defined]
        assert (
            await client.get("/api/v1/merchant/events", headers=resident.headers)
        ).status_code == 403
