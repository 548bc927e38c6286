"""The analyst console (/analytics): disclosure-controlled answers in a real Chromium.

The demo ward's shops are spread thin (no street has three shops), so every street's cell
is suppressed by the dominance rule. The scene adds three shops on one street, paid by four
residents, so "spend by street by month" has both a published and a suppressed cell.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import re
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Page, expect
from sqlalchemy import func, select

from analytics.models import Fact
from assembly.demo import DEMO_PASSWORD
from machipay.timeutil import to_tokyo, utcnow
from tests.web.conftest import (
    LiveServer,
    assert_accessible,
    assert_no_page_errors,
    screenshot,
)

MESSAGES = Path(__file__).resolve().parents[2] / "web" / "messages"
STREET = 13  # 千歳烏山駅前通り商店街: the demo's shops are on the first six streets only
STREET_MONTH = {
    "measures": ["spend", "payments", "residents"],
    "dimensions": ["shopping_street", "month"],
    "filters": {},
    "mode": "threshold",
}


def message(key: str, lang: str = "ja", **values: Any) -> str:
    strings: dict[str, dict[str, str]] = {}
    for name in ("common", "analytics"):
        strings.update(json.loads((MESSAGES / f"{name}.json").read_text(encoding="utf-8")))
    text = strings[key][lang]
    return text.format(**values) if values else text


@dataclass
class Scene:
    analyst_token: str
    k: int


async def _street_published(live_server: LiveServer, token: str) -> bool:
    answer = await live_server.api(
        "POST", "/api/v1/analytics/query", token=token, json=STREET_MONTH
    )
    answer.raise_for_status()
    rows = answer.json()["rows"]
    return any(r["shopping_street"] == STREET and not r["suppressed"] for r in rows)


@pytest.fixture(scope="session")
async def scene(live_server: LiveServer) -> Scene:
    """Three shops on one street, four residents paying each of them once."""
    operator = await live_server.token("operator")
    officer = await live_server.token("officer")
    payloads: list[str] = []
    for n in range(3):
        username = f"analytics-shop-{n + 1}"
        applied = await live_server.api(
            "POST",
            "/api/v1/merchants",
            json={
                "name": f"一番街の店 {n + 1}",
                "name_kana": "イチバンガイノミセ " + ("イチ", "ニ", "サン")[n],
                "category": "grocery",
                "store_type": "small",
                "shopping_street_id": STREET,
                "postal_code": "155-0031",
                "address": f"世田谷区北沢2-{n + 1}",
                "owner_username": username,
                "owner_password": "Ichibangai-shop-pass-26",
                "bank": {
                    "bank_code": "0001",
                    "branch_code": "001",
                    "account_type": "ordinary",
                    "account_number": f"123456{n}",
                    "account_name_kana": "ｲﾁﾊﾞﾝｶﾞｲ",
                },
            },
        )
        assert applied.status_code == 201, applied.text
        for approver in (operator, officer):  # two people open a shop
            approved = await live_server.api(
                "POST", f"/api/v1/merchants/{applied.json()['id']}/approve", token=approver
            )
            assert approved.status_code == 200, approved.text
        owner = await live_server.token(username, "Ichibangai-shop-pass-26")
        qr = await live_server.api("GET", "/api/v1/merchant/qr?format=payload", token=owner)
        assert qr.status_code == 200, qr.text
        payloads.append(qr.text)
    for n in range(4):
        resident = await live_server.token(f"070-1000-00{n:02d}", DEMO_PASSWORD)
        for payload in payloads:
            paid = await live_server.api(
                "POST",
                "/api/v1/payments",
                token=resident,
                headers={"Idempotency-Key": uuid.uuid4().hex},
                json={"qr_payload": payload, "amount": 1_000},
            )
            assert paid.status_code == 201, paid.text
    analyst = await live_server.token("analyst")
    # The analytics consumer turns payments into facts within a second or two.
    deadline = time.monotonic() + 30
    while not await _street_published(live_server, analyst):
        assert time.monotonic() < deadline, "the new payments never reached the analytics facts"
        await asyncio.sleep(0.3)
    budget = await live_server.api("GET", "/api/v1/analytics/budget", token=analyst)
    k = (
        int(budget.json()["min_residents"])
        if budget.status_code == 200
        else live_server.settings.analytics_min_residents
    )
    return Scene(analyst_token=analyst, k=k)


async def sign_in(page: Page, username: str, password: str = DEMO_PASSWORD) -> None:
    await page.locator("#username").fill(username)
    await page.locator("#password").fill(password)
    await page.locator("button#sign-in").click()


async def run_street_month(page: Page) -> None:
    await page.get_by_role("button", name=message("analytics.preset.street_month")).click()
    await expect(page.locator("#answer-table tbody tr").first).to_be_visible()
    await expect(page.locator("#run-query")).to_be_enabled()


async def test_analyst_runs_spend_by_street_by_month_and_sees_suppressed_cells(
    desktop: Page, live_server: LiveServer, scene: Scene
) -> None:
    await desktop.goto("/analytics")
    await expect(desktop.locator("#username")).to_be_visible()
    await assert_accessible(desktop, context="analytics sign-in")
    await screenshot(desktop, "analytics-sign-in")

    await sign_in(desktop, "analyst")
    await expect(desktop.locator("#console-title")).to_have_text(message("analytics.heading"))
    await expect(desktop.locator("#who")).to_contain_text("analyst")
    await run_street_month(desktop)

    expected = await live_server.api(
        "POST", "/api/v1/analytics/query", token=scene.analyst_token, json=STREET_MONTH
    )
    assert expected.status_code == 200, expected.text
    answer = expected.json()
    rows = desktop.locator("#answer-table tbody tr")
    await expect(rows).to_have_count(len(answer["rows"]))
    mark = f"＜{scene.k}"
    suppressed_cells = desktop.locator("#answer-table td.suppressed")
    assert await suppressed_cells.count() >= 1
    await expect(suppressed_cells.first).to_have_text(mark)
    assert message("analytics.suppressed.tooltip", k=scene.k) in (
        await suppressed_cells.first.get_attribute("title") or ""
    )
    await expect(desktop.locator("#suppressed-count")).to_have_text(
        message("analytics.results.suppressed", n=answer["suppressed"])
    )
    await expect(desktop.locator("#results-legend")).to_contain_text(mark)

    published = 0
    for row in answer["rows"]:
        key = json.dumps([row["shopping_street"], row["month"]], separators=(",", ":"))
        line = desktop.locator(f"#answer-table tr[data-key='{key}']")
        await expect(line).to_have_count(1)
        for measure in STREET_MONTH["measures"]:
            cell = line.locator(f"td[data-measure='{measure}']")
            if row["suppressed"]:
                await expect(cell).to_have_class("num suppressed")
                await expect(cell).to_have_text(mark)
            else:
                published += 1
                assert await cell.get_attribute("data-value") == str(row[measure])
                await expect(cell).to_contain_text(f"{row[measure]:,}")
    assert published >= 3, "no published cell to compare"
    # The street is shown by its name in the page's language, not by its id.
    streets = (await live_server.api("GET", "/api/v1/shopping-streets")).json()
    name = next(s["name"] for s in streets if s["id"] == STREET)
    key = json.dumps([STREET, answer["rows"][0]["month"]], separators=(",", ":"))
    await expect(desktop.locator(f"#answer-table tr[data-key='{key}'] td").first).to_have_text(name)

    await assert_accessible(desktop, context="analytics results")
    await screenshot(desktop, "analytics-results")

    await desktop.locator("#sign-out").click()
    await expect(desktop.locator("#signin-message")).to_have_text(message("analytics.signed_out"))
    await expect(desktop.locator("#console-view")).to_be_hidden()
    assert_no_page_errors(desktop)


async def test_csv_download_leaves_suppressed_cells_empty_and_marks_them(
    desktop: Page, live_server: LiveServer, scene: Scene
) -> None:
    await desktop.goto("/analytics")
    await sign_in(desktop, "analyst")
    await run_street_month(desktop)
    async with desktop.expect_download() as event:
        await desktop.get_by_role("button", name=message("action.download_csv")).click()
    download = await event.value
    assert download.suggested_filename.endswith(".csv")
    raw = await asyncio.to_thread(Path(await download.path()).read_bytes)
    assert raw.startswith(b"\xef\xbb\xbf"), "no BOM: Excel would misread the Japanese names"
    table = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    assert table, "the CSV has no rows"
    assert list(table[0]) == [
        "shopping_street",
        "shopping_street_name",
        "month",
        "month_name",
        "spend",
        "payments",
        "residents",
        "suppressed",
    ]
    answer = (
        await live_server.api(
            "POST", "/api/v1/analytics/query", token=scene.analyst_token, json=STREET_MONTH
        )
    ).json()
    by_street = {str(r["shopping_street"] or ""): r for r in answer["rows"]}
    assert {line["shopping_street"] for line in table} == set(by_street)
    hidden = [line for line in table if line["suppressed"] == "1"]
    shown = [line for line in table if line["suppressed"] == "0"]
    assert hidden and shown
    for line in hidden:
        assert line["spend"] == line["payments"] == line["residents"] == ""
        assert by_street[line["shopping_street"]]["suppressed"] is True
    for line in shown:
        row = by_street[line["shopping_street"]]
        assert (line["spend"], line["payments"], line["residents"]) == (
            str(row["spend"]),
            str(row["payments"]),
            str(row["residents"]),
        )
    streets = (await live_server.api("GET", "/api/v1/shopping-streets")).json()
    name = next(s["name"] for s in streets if s["id"] == STREET)
    assert any(line["shopping_street_name"] == name for line in shown)
    assert_no_page_errors(desktop)


async def test_refused_queries_say_why_in_the_page_language(
    desktop: Page, live_server: LiveServer, scene: Scene
) -> None:
    await desktop.goto("/analytics")
    await sign_in(desktop, "analyst")
    await expect(desktop.locator("#console-title")).to_be_visible()

    # Hour of day by shopping street: refused before it is sent (the server refuses it too).
    await desktop.get_by_label(message("analytics.dimension.n", n=1)).select_option(
        "shopping_street"
    )
    await desktop.get_by_label(message("analytics.dimension.n", n=2)).select_option("hour")
    await desktop.locator("#run-query").click()
    await expect(desktop.locator("#query-error")).to_have_text(
        message("analytics.error.hour_street")
    )
    await expect(desktop.locator("#query-error")).to_have_attribute("role", "alert")
    refused = await live_server.api(
        "POST",
        "/api/v1/analytics/query",
        token=scene.analyst_token,
        json={**STREET_MONTH, "dimensions": ["shopping_street", "hour"]},
    )
    assert refused.status_code == 422

    # The differencing guard works per published cell: the ward month by month, then the
    # same without one district's one or two residents, would single them out cell by cell;
    # the server refuses the second with a 403. (Street cells those residents shop in are
    # too small to be shown at all, so street by month alone would not be an attack.)
    await run_street_month(desktop)
    await desktop.get_by_label(message("analytics.dimension.n", n=1)).select_option("month")
    await desktop.get_by_label(message("analytics.dimension.n", n=2)).select_option("")
    await desktop.locator("#run-query").click()
    await expect(desktop.locator("#answer-table thead")).not_to_contain_text(
        message("analytics.dimension.shopping_street")
    )
    await expect(desktop.locator("#run-query")).to_be_enabled()
    async with live_server.sessionmaker() as session:
        counts = (
            await session.execute(
                select(Fact.district_id, func.count(func.distinct(Fact.resident_key))).group_by(
                    Fact.district_id
                )
            )
        ).all()
    few = next(district for district, n in counts if 0 < n < scene.k)
    others = [d["id"] for d in (await live_server.api("GET", "/api/v1/districts")).json()]
    others.remove(few)
    await desktop.locator("#filters summary").click()
    await desktop.get_by_label(message("analytics.dimension.district")).select_option(others)
    await expect(desktop.locator("#filters-count")).to_have_text(
        message("analytics.filters.active", n=1)
    )
    await desktop.locator("#run-query").click()
    await expect(desktop.locator("#query-error")).to_have_text(
        message("problem.analytics-differencing-refused")
    )
    guard = await live_server.api(
        "POST",
        "/api/v1/analytics/query",
        token=scene.analyst_token,
        json={**STREET_MONTH, "dimensions": ["month"], "filters": {"district": others}},
    )
    assert guard.status_code == 403
    assert guard.json()["type"].endswith("/analytics-differencing-refused")
    # The earlier answer stays on screen; the refusal did not replace it with nothing.
    await expect(desktop.locator("#answer-table")).to_be_visible()
    await assert_accessible(desktop, context="analytics refusal")
    await desktop.evaluate("window.scrollTo(0, 0)")
    await screenshot(desktop, "analytics-refused")
    assert_no_page_errors(desktop)


async def test_charts_draw_suppressed_cells_as_gaps_not_zeros(
    desktop: Page, phone: Page, live_server: LiveServer, scene: Scene
) -> None:
    answer = (
        await live_server.api(
            "POST",
            "/api/v1/analytics/query",
            token=scene.analyst_token,
            json={**STREET_MONTH, "measures": ["spend"]},
        )
    ).json()
    for page in (desktop, phone):
        await page.goto("/analytics")
        await sign_in(page, "analyst")
        await page.get_by_role("tab", name=message("analytics.tab.charts")).click()
        street = page.locator("canvas#chart-street[data-ready='true']")
        await expect(street).to_have_count(1)
        drawn = await street.evaluate(
            "c => Chart.getChart(c).data.datasets.map(d => ({label: d.label, data: d.data}))"
        )
        assert len(drawn) == len({r["shopping_street"] for r in answer["rows"]})
        values = [v for d in drawn for v in d["data"]]
        suppressed = sum(1 for r in answer["rows"] if r["suppressed"])
        assert values.count(None) >= suppressed >= 1
        assert 0 not in values, "a suppressed cell was drawn as zero"
        visible = sorted(r["spend"] for r in answer["rows"] if not r["suppressed"])
        assert sorted(v for v in values if v is not None) == visible
        assert int(await street.get_attribute("data-gaps") or -1) == values.count(None)
        # The month in progress is marked as such (its figures are still growing).
        months = sorted({r["month"] for r in answer["rows"]})
        this_month = to_tokyo(utcnow()).strftime("%Y-%m")
        labels = json.loads(await street.get_attribute("data-labels") or "[]")
        if this_month in months:
            assert await street.get_attribute("data-in-progress") == this_month
            assert "集計中" in labels[-1] or "in progress" in labels[-1], labels
        assert not any("集計中" in label for label in labels[:-1]), labels

        heat = page.locator("#chart-heat[data-ready='true'] #heat-table")
        await expect(heat).to_be_visible()
        await expect(heat.locator("tbody tr")).to_have_count(7)
        assert await heat.locator("td[data-value], td.suppressed").count() >= 1

        uplift = page.locator("canvas#chart-uplift[data-ready='true']")
        await expect(uplift).to_have_count(1)
        # The demo's newest campaign has not started (開始前): the panel opens on the newest
        # one that has, not on a campaign with no effect to show.
        choices = page.locator("#uplift-campaign option")
        assert any(
            message("analytics.status.approved") in text
            for text in await choices.all_text_contents()
        ), "the demo should hold a campaign not yet started"
        chosen = await page.locator("#uplift-campaign").evaluate(
            "s => s.options[s.selectedIndex].textContent"
        )
        assert message("analytics.status.approved") not in chosen, chosen
        bars = await uplift.evaluate("c => Chart.getChart(c).data.datasets.length")
        assert bars == 2
        await expect(page.locator("#uplift-spend")).not_to_be_empty()
        await assert_accessible(page, context="analytics charts")
        await screenshot(page, "analytics-charts")
        assert_no_page_errors(page)

    # Signing out forgets the charts; the next analyst starts on the query tab.
    await desktop.locator("#sign-out").click()
    await expect(desktop.locator("canvas#chart-street[data-ready]")).to_have_count(0)
    await sign_in(desktop, "analyst")
    await expect(desktop.locator("#panel-query")).to_be_visible()
    await expect(desktop.locator("#panel-charts")).to_be_hidden()
    assert_no_page_errors(desktop)


async def test_the_console_works_on_a_phone(phone: Page, scene: Scene) -> None:
    await phone.goto("/analytics")
    await expect(phone.locator("#username")).to_be_visible()
    await screenshot(phone, "analytics-sign-in")
    await sign_in(phone, "analyst")
    await run_street_month(phone)
    await expect(phone.locator("#answer-table td.suppressed").first).to_have_text(f"＜{scene.k}")
    width = await phone.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the page scrolls sideways ({width}px)"
    await assert_accessible(phone, context="analytics results on a phone")
    await phone.evaluate("window.scrollTo(0, 0)")
    await screenshot(phone, "analytics-results")
    assert_no_page_errors(phone)


async def test_other_roles_are_told_they_cannot_use_this_screen(
    desktop: Page, live_server: LiveServer
) -> None:
    await desktop.goto("/analytics")
    await sign_in(desktop, "officer")
    await expect(desktop.locator("#signin-message")).to_have_text(
        message("analytics.signin.wrong_role")
    )
    await expect(desktop.locator("#console-view")).to_be_hidden()
    kept = await desktop.evaluate(
        "sessionStorage.getItem('machipay.analytics.access')"
        " ?? (document.cookie.includes('machipay-csrf-analytics') ? 'cookie' : null)"
    )
    assert kept is None, "the officer's session was kept"

    await desktop.goto("/analytics?lang=en")
    await sign_in(desktop, "operator")
    await expect(desktop.locator("#signin-message")).to_have_text(
        message("analytics.signin.wrong_role", "en")
    )
    await sign_in(desktop, "analyst", "not-the-password")
    await expect(desktop.locator("#signin-message")).to_have_text(
        message("problem.invalid-credentials", "en")
    )
    # The analyst, in English: headers, age bands and the suppression mark.
    await sign_in(desktop, "analyst")
    await desktop.get_by_role("button", name=message("analytics.preset.age", "en")).click()
    header = desktop.locator("#answer-table thead th")
    await expect(header.first).to_have_text(message("analytics.dimension.age_band", "en"))
    # A band in English, with an en dash ("20–29"; the youngest residents' band varies).
    await expect(desktop.locator("#answer-table td[data-dimension='age_band']").first).to_have_text(
        re.compile(r"^([1-7]0–[1-7]9|80\+)$")
    )
    await expect(desktop.locator("#results-legend")).to_contain_text("suppressed cell")
    await screenshot(desktop, "analytics-results-en")
    assert_no_page_errors(desktop)


async def test_dp_answers_carry_error_bands_and_spend_the_monthly_budget(
    desktop: Page, live_server: LiveServer, scene: Scene
) -> None:
    budget = "/api/v1/analytics/budget"
    before = (await live_server.api("GET", budget, token=scene.analyst_token)).json()
    await desktop.goto("/analytics")
    await sign_in(desktop, "analyst")
    await desktop.get_by_label(message("analytics.mode.dp")).check()
    await expect(desktop.locator("#dp-budget")).to_contain_text(
        message(
            "analytics.budget",
            remaining=f"{before['epsilon_remaining']:g}",
            monthly=f"{before['epsilon_monthly']:g}",
        )
    )
    await desktop.get_by_label(message("analytics.dimension.n", n=1)).select_option("age_band")
    await desktop.get_by_label(message("analytics.epsilon")).fill("0.25")
    await desktop.locator("#run-query").click()
    # OpenDP takes a while on a busy machine: seconds, not milliseconds.
    await expect(desktop.locator("#answer-table")).to_be_visible(timeout=90_000)
    await expect(desktop.locator("#query-error")).to_be_hidden()
    rows = desktop.locator("#answer-table tbody tr")
    await expect(rows).to_have_count(8)  # every age band: DP answers publish all public keys
    await expect(desktop.locator("#epsilon-spent")).to_have_text(
        message("analytics.results.epsilon", epsilon="0.25")
    )
    assert await desktop.locator("#answer-table .an-error-band").count() >= 1
    await expect(desktop.locator("#results-legend")).to_contain_text(
        message("analytics.results.dp_note")
    )
    after = (await live_server.api("GET", budget, token=scene.analyst_token)).json()
    assert after["epsilon_spent"] == pytest.approx(before["epsilon_spent"] + 0.25)
    await expect(desktop.locator("#dp-budget")).to_contain_text(
        f"ε {after['epsilon_remaining']:g} /"
    )
    await desktop.evaluate("window.scrollTo(0, 0)")
    await screenshot(desktop, "analytics-dp")

    # Another window spends the rest; this page still thinks ε is left, the server refuses.
    spent = await live_server.api(
        "POST",
        "/api/v1/analytics/query",
        token=scene.analyst_token,
        json={
            "measures": ["payments"],
            "dimensions": ["weekday"],
            "mode": "dp",
            "epsilon": after["epsilon_remaining"],
        },
    )
    assert spent.status_code == 200, spent.text
    await desktop.locator("#run-query").click()
    await expect(desktop.locator("#query-error")).to_have_text(
        message("problem.analytics-dp-budget-exhausted")
    )
    await expect(desktop.locator("#dp-budget")).to_contain_text("ε 0 /")
    # Now the page knows: asking for more ε than is left is stopped before it is sent.
    await desktop.locator("#run-query").click()
    await expect(desktop.locator("#query-error")).to_have_text(
        message("analytics.error.epsilon_over_budget", remaining="0")
    )
    await assert_accessible(desktop, context="analytics dp")
    assert_no_page_errors(desktop)
