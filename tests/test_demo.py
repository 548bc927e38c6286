"""The ward `machipay demo` starts with: every role can sign in and sees something real."""

from __future__ import annotations

import asyncio
import os
import subprocess
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select

import ledger
from analytics.disclosure import round_count, round_yen
from analytics.models import Fact
from assembly.app import create_app
from assembly.demo import DEMO_PASSWORD, DemoWard, seed_demo
from benefits import verify_benefit_budgets
from campaigns import verify_campaign_budgets
from ledger.models import Posting
from machipay.db import create_engine, make_sessionmaker
from machipay.migrate import upgrade
from machipay.settings import Settings
from machipay.timeutil import TOKYO, to_tokyo, utcnow
from tests.conftest import (
    create_scratch_postgres,
    drop_scratch_postgres,
    free_port,
    wait_until_serving,
)
from tests.test_cli import MACHIPAY, run_cli

# The demo's own scale, a little thinner a day (the story is the same; the suite is shared).
RESIDENTS, SHOPS, DAYS, PAYMENTS_PER_DAY = 200, 40, 42, 25


async def test_the_demo_tells_one_story_in_every_client() -> None:
    # The demo is seeded once, through the real services at past instants; then the analyst
    # console's month × street, the shops' statements (and their days not yet settled) and
    # `machipay verify`'s totals are the same money.
    url = await create_scratch_postgres("machipay_demo")
    await asyncio.to_thread(upgrade, url)
    settings = Settings(database_url=url, environment="test", sealer_enabled=False)
    engine = create_engine(settings)
    sessionmaker = make_sessionmaker(engine)
    try:
        ward = await seed_demo(
            sessionmaker,
            settings,
            residents=RESIDENTS,
            shops=SHOPS,
            days=DAYS,
            payments_per_day=PAYMENTS_PER_DAY,
        )
        assert ward is not None and ward.first_day is not None
        assert ward.payments > DAYS * PAYMENTS_PER_DAY * 0.9
        assert ward.settlements > SHOPS * 4  # five or six Mondays, most shops sold each week
        assert ward.payout_files >= DAYS // 7 - 1  # not today's before ten on a Monday
        assert await seed_demo(sessionmaker, settings, residents=12, shops=4) is None
        async with sessionmaker() as session:
            report = await ledger.verify_ledger(session)
            report.findings.extend(await verify_campaign_budgets(session))
            report.findings.extend(await verify_benefit_budgets(session))
            books = await ledger.reconcile(session)
            # Analytics' own totals, unrounded, by the facts the consumer wrote.
            facts = {
                (month, street): (int(spend), int(count), int(reward))
                for month, street, spend, count, reward in await session.execute(
                    select(
                        Fact.month,
                        Fact.shopping_street_id,
                        func.sum(Fact.amount),
                        func.count(),
                        func.sum(Fact.reward),
                    ).group_by(Fact.month, Fact.shopping_street_id)
                )
            }
            first_posting = await session.scalar(select(func.min(Posting.created_at)))
        assert report.ok, [str(f) for f in report.findings]
        assert books.ok, books.problems
        # History in the past, the ledger's postings too (not all stamped today).
        assert first_posting is not None
        assert to_tokyo(first_posting).date() < ward.first_day
        # Three calendar months of real payments, no synthetic facts.
        assert len({month for month, _ in facts}) >= 2
    finally:
        await engine.dispose()
    try:
        verified = await asyncio.to_thread(run_cli, "verify", database_url=url)
        assert verified.returncode == 0, verified.stdout + verified.stderr
        totals = _verify_totals(verified.stdout)
        story = await _what_the_clients_say(settings, ward)
    finally:
        await drop_scratch_postgres(url)

    # The shops' statements and unsettled days, month by street, are exactly the facts.
    assert story.sales == {key: (spend, count) for key, (spend, count, _) in facts.items()}
    # The analyst sees those figures, rounded as disclosure control publishes them.
    shown = 0
    for row in story.analyst_rows:
        spend, count = story.sales[(row["month"], row["shopping_street"])]
        if not row["suppressed"]:
            assert row["spend"] == round_yen(spend), row
            assert row["payments"] == round_count(count), row
            shown += 1
    assert {(r["month"], r["shopping_street"]) for r in story.analyst_rows} == set(story.sales)
    assert shown >= 6, story.analyst_rows  # a demo where the analyst sees something
    # No street without shops has sales.
    assert {street for _, street in story.sales} <= story.shop_streets

    # `machipay verify`'s totals hold the statements and analytics to the ledger: what the
    # shops were credited (sales and campaign cashback) was either settled (statement
    # totals) or is still owed (merchant payable); the cashback is what the campaigns spent
    # beyond the residents' rewards (which analytics counts).
    rewards = sum(reward for _, _, reward in facts.values())
    campaign_spent = story.campaign_budgets - totals["campaign budget"]
    cashback = campaign_spent - rewards
    sales = sum(spend for spend, _ in story.sales.values())
    assert story.statement_totals + totals["merchant payable"] == sales + cashback
    assert story.in_transit == totals["merchant payout"]
    assert 0 < story.statement_cashback <= cashback
    assert totals["benefit budget"] == 0  # the benefit was granted in full


def _verify_totals(stdout: str) -> dict[str, int]:
    lines = stdout.split("totals (yen):", 1)[1].strip().splitlines()
    return {line[:22].strip(): int(line[22:].replace(",", "")) for line in lines}


@dataclass
class _Story:
    sales: dict[tuple[str, int | None], tuple[int, int]] = field(default_factory=dict)
    shop_streets: set[int | None] = field(default_factory=set)
    analyst_rows: list[dict[str, Any]] = field(default_factory=list)
    statement_totals: int = 0
    statement_cashback: int = 0
    in_transit: int = 0
    campaign_budgets: int = 0


async def _what_the_clients_say(settings: Settings, ward: DemoWard) -> _Story:
    story = _Story()
    first_day = ward.first_day
    assert first_day is not None
    sales: dict[tuple[str, int | None], list[int]] = defaultdict(lambda: [0, 0])
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
            for username, _ in ward.staff:
                await sign_in(username)

            officer = await sign_in("officer")
            statuses = {}
            for campaign_id in (ward.past_campaign_id, ward.campaign_id, ward.upcoming_campaign_id):
                campaign = (
                    await client.get(f"/api/v1/campaigns/{campaign_id}", headers=officer)
                ).json()
                statuses[campaign_id] = campaign["status"]
                story.campaign_budgets += campaign["budget"]
            assert statuses == {
                ward.past_campaign_id: "ended",
                ward.campaign_id: "active",
                ward.upcoming_campaign_id: "approved",  # not started yet
            }

            analyst = await sign_in("analyst")
            answer = await client.post(
                "/api/v1/analytics/query",
                headers=analyst,
                json={
                    "measures": ["spend", "payments"],
                    "dimensions": ["month", "shopping_street"],
                },
            )
            assert answer.status_code == 200, answer.text
            story.analyst_rows = answer.json()["rows"]

            today = to_tokyo(utcnow()).date()
            for number in range(1, SHOPS + 1):
                shop = await sign_in(f"seed-shop-{number}")
                street = (await client.get("/api/v1/merchant", headers=shop)).json()[
                    "shopping_street_id"
                ]
                story.shop_streets.add(street)
                statements = (
                    await client.get("/api/v1/merchant/settlements?limit=100", headers=shop)
                ).json()["items"]
                settled_through = first_day - timedelta(days=1)
                for statement in statements:
                    if statement["status"] != "settled":
                        continue  # carried forward: its payments are in the next statement
                    detail = (
                        await client.get(
                            f"/api/v1/merchant/settlements/{statement['id']}", headers=shop
                        )
                    ).json()
                    for line in detail["lines"]:
                        month = datetime.fromisoformat(line["created_at"]).astimezone(TOKYO)
                        cell = sales[(month.strftime("%Y-%m"), street)]
                        cell[0] += line["amount"]
                        cell[1] += 1
                    story.statement_totals += statement["total"]
                    story.statement_cashback += statement["campaign_cashback"]
                    payout = statement["payout"]
                    if payout is not None and payout["status"] in ("pending", "sent"):
                        story.in_transit += payout["amount"]
                    settled_through = max(
                        settled_through, date.fromisoformat(statement["closing_date"])
                    )
                day = settled_through + timedelta(days=1)
                while day <= today:  # the days no settled statement covers yet
                    listed = (
                        await client.get(f"/api/v1/merchant/payments?date={day}", headers=shop)
                    ).json()
                    cell = sales[(day.strftime("%Y-%m"), street)]
                    cell[0] += listed["gross"]
                    cell[1] += listed["count"]
                    day += timedelta(days=1)
    story.sales = {key: (spend, count) for key, (spend, count) in sales.items() if count}
    return story


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
