"""An HTTP client on the real app (lifespan run), on PostgreSQL and Redis (or the in-memory
cache where the run has no Redis)."""

from __future__ import annotations

import itertools
import json
import random
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from fastapi import FastAPI

from assembly.app import create_app
from machipay.settings import Settings
from machipay.sms import SinkSms
from tests.sms import last_code
from wallet_api.funding import HEADER, sign

WEBHOOK_SECRET = "test-webhook-secret-0123456789abcdef"


@pytest.fixture
def app_settings(database_url: str, cache_url: str | None) -> Settings:
    # Redis is flushed per test, so rate-limit windows start empty.
    return Settings(
        database_url=database_url,
        redis_url=cache_url,
        environment="test",
        sealer_enabled=False,
        funding_webhook_secret=WEBHOOK_SECRET,
        requests_per_ip_per_minute=100_000,
        registrations_per_ip_per_hour=100_000,
        # Tests apply the outbox themselves (analytics.ingest_all), when they need facts.
        analytics_consumer_enabled=False,
        # The admission gate stays in front (at its default number of slots), but races of a
        # hundred payments queue for it instead of being refused: they test the database.
        # tests/api/test_overload.py tests the refusals.
        payment_queue_wait_ms=60_000,
    )


@pytest.fixture
async def app(app_settings: Settings) -> AsyncIterator[FastAPI]:
    application = create_app(app_settings, configure_logs=False)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        yield c


# Phone numbers are unique per run's database: a counter, not random draws (a thousand
# random numbers out of 90 million collide once in a few hundred runs).
_PHONES = itertools.count(random.randrange(9 * 10**7))


def new_phone() -> str:
    value = next(_PHONES) % (9 * 10**7)
    digits = f"{1 + value // 10**7}{value % 10**7:07d}"  # 090-0xxx is not an allocated range
    return f"090-{digits[:4]}-{digits[4:]}"


@dataclass
class ResidentHandle:
    id: int
    wallet_id: str
    phone: str
    password: str
    access: str
    refresh: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access}"}


async def register(
    client: httpx.AsyncClient,
    *,
    name: str = "山田 花子",
    district: str = "kitazawa",
    birth_year: int = 1985,
    verify: bool = True,
    sink: SinkSms | None = None,
) -> ResidentHandle:
    """A resident registered over the API who (unless ``verify=False``) entered the code
    the SMS sink received, as a resident does, and is signed in."""
    phone, password = new_phone(), f"pw-{uuid.uuid4().hex[:12]}"
    created = await client.post(
        "/api/v1/residents",
        json={
            "phone": phone,
            "password": password,
            "display_name": name,
            "birth_year": birth_year,
            "district": district,
        },
    )
    assert created.status_code == 201, created.text
    if verify:
        verified = await client.post(
            "/api/v1/residents/verify",
            json={"phone": phone, "code": await last_code(client, phone, sink)},
        )
        assert verified.status_code == 200, verified.text
    token = await client.post("/api/v1/auth/token", json={"username": phone, "password": password})
    assert token.status_code == 200, token.text
    body = created.json()
    return ResidentHandle(
        body["id"],
        body["wallet_id"],
        phone,
        password,
        token.json()["access_token"],
        token.json()["refresh_token"],
    )


def signed_webhook(
    body: dict[str, object], *, secret: str = WEBHOOK_SECRET, timestamp: int | None = None
) -> tuple[bytes, dict[str, str]]:
    raw = json.dumps(body).encode()
    return raw, {"Content-Type": "application/json", HEADER: sign(secret, raw, timestamp)}


async def top_up(
    client: httpx.AsyncClient, wallet_id: str, amount: int, event_id: str | None = None
) -> httpx.Response:
    raw, headers = signed_webhook(
        {
            "event_id": event_id or uuid.uuid4().hex,
            "wallet_id": wallet_id,
            "amount": amount,
            "source": "bank",
            "occurred_at": "2026-11-23T09:00:00+09:00",
        }
    )
    return await client.post("/api/v1/funding/webhook", content=raw, headers=headers)
