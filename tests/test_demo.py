"""The ward `machipay demo` starts with: every role can sign in and sees something real."""

from __future__ import annotations

import asyncio
import os
import subprocess
from pathlib import Path

import httpx
from sqlalchemy import distinct, func, select

import ledger
from analytics.models import Fact
from assembly.app import create_app
from assembly.demo import DEMO_PASSWORD, DemoWard, seed_demo
from campaigns import verify_campaign_budgets
from machipay.db import create_engine, make_sessionmaker
from machipay.migrate import upgrade
from machipay.settings import Settings
from tests.conftest import (
    create_scratch_postgres,
    drop_scratch_postgres,
    free_port,
    wait_until_serving,
)
from tests.test_cli import MACHIPAY


async def test_the_demo_ward_is_seeded_once_and_every_role_can_sign_in() -> None:
    url = await create_scratch_postgres("machipay_demo")
    await asyncio.to_thread(upgrade, url)
    settings = Settings(database_url=url, environment="test", sealer_enabled=False)
    engine = create_engine(settings)
    sessionmaker = make_sessionmaker(engine)
    try:
        ward = await seed_demo(
            sessionmaker, settings, residents=12, shops=4, payments_each=2, history_payments=2_000
        )
        assert ward is not None and ward.payments == 24
        assert await seed_demo(sessionmaker, settings, residents=12, shops=4) is None
        async with sessionmaker() as session:
            history_months = await session.scalar(select(func.count(distinct(Fact.month))))
            assert history_months == 3  # the synthetic analytics history before this month
            report = await ledger.verify_ledger(session)
            report.findings.extend(await verify_campaign_budgets(session))
            books = await ledger.reconcile(session)
        assert report.ok, [str(f) for f in report.findings]
        assert books.ok, books.problems
    finally:
        await engine.dispose()
    try:
        await _sign_in_as_every_role(settings, ward)
    finally:
        await drop_scratch_postgres(url)


async def _sign_in_as_every_role(settings: Settings, ward: DemoWard) -> None:
    app = create_app(settings, configure_logs=False)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://demo") as client:

            async def sign_in(username: str) -> dict[str, str]:
                token = await client.post(
                    "/api/v1/auth/token", json={"username": username, "password": DEMO_PASSWORD}
                )
                assert token.status_code == 200, (username, token.text)
                return {"Authorization": f"Bearer {token.json()['access_token']}"}

            phone = ward.resident_phone  # as printed by the demo: 070-1000-0000
            resident = await sign_in(f"{phone[:3]}-{phone[3:7]}-{phone[7:]}")
            wallet = (await client.get("/api/v1/wallet", headers=resident)).json()
            assert wallet["money"] < 50_000 and wallet["points"] > 0  # paid, and earned points
            officer = await sign_in("officer")
            campaign = await client.get(f"/api/v1/campaigns/{ward.campaign_id}", headers=officer)
            assert campaign.json()["status"] == "active"
            assert campaign.json()["budget_remaining"] < 5_000_000
            for username in ("approver", "analyst", "operator", ward.shop_username):
                await sign_in(username)


async def test_machipay_demo_starts_without_any_setting(tmp_path: Path) -> None:
    # Nothing set and no database server, as on a fresh clone: the demo starts the embedded
    # PostgreSQL server in ./var/pgdata, sets the development environment itself, seeds the
    # ward and serves it; `machipay verify` beside it finds the books in order; stopping the
    # demo stops the server and keeps the data.
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MACHIPAY_")}
    env.pop("XDG_RUNTIME_DIR", None)
    demo = subprocess.Popen(  # noqa: ASYNC220 - a long-lived child, polled below
        [*MACHIPAY, "demo", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=2) as client:
            ready = await wait_until_serving(client, demo, 90)
            assert ready.status_code == 200, ready.text
            assert (await client.get("/docs")).status_code == 200  # on in development
            for page in ("/app/", "/merchant", "/console", "/analytics"):
                assert (await client.get(page)).status_code == 200, page
        verified = await asyncio.to_thread(
            subprocess.run,
            [*MACHIPAY, "verify"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert verified.returncode == 0, verified.stdout + verified.stderr
        assert "ledger verify: OK" in verified.stdout
    finally:
        demo.terminate()
        output, _ = demo.communicate(timeout=60)
    assert "machipay demo is starting" in output, output
    assert (tmp_path / "var" / "pgdata" / "PG_VERSION").exists()
    assert not (tmp_path / "var" / "pgdata" / "postmaster.pid").exists(), "server left running"
