"""The ward console (/console) in a real Chromium: maker-checker, the live budget burn, the
campaign form's validation, merchant approval, notices, settlement, and how it looks.

Two people approve a campaign, so the maker-checker scene runs two browser contexts side by
side (each with its own signed-in officer or approver). Everything the console claims is
checked against the server over HTTP.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from playwright.async_api import Browser, BrowserContext, Page, expect

from assembly.demo import DEMO_PASSWORD
from tests.web.conftest import (
    DESKTOP,
    LiveServer,
    assert_accessible,
    assert_no_page_errors,
    screenshot,
    watched,
)

MESSAGES = Path(__file__).resolve().parents[2] / "web" / "messages"
TOKYO = ZoneInfo("Asia/Tokyo")
YEN = re.compile("[¥￥]")


def message(key: str, lang: str = "ja", **values: Any) -> str:
    strings: dict[str, dict[str, str]] = {}
    for name in ("common", "console"):
        strings.update(json.loads((MESSAGES / f"{name}.json").read_text(encoding="utf-8")))
    text = strings[key][lang]
    return text.format(**values) if values else text


async def yen(page: Page, amount: int) -> str:
    """An amount as the page formats yen (Chromium's ja-JP uses the full-width ￥)."""
    text: str = await page.evaluate(
        "(n) => new Intl.NumberFormat('ja-JP', {style: 'currency', currency: 'JPY'}).format(n)",
        amount,
    )
    return text


def tokyo_input(moment: datetime) -> str:
    """A datetime-local value in Tokyo time (what the form reads as +09:00)."""
    return moment.astimezone(TOKYO).strftime("%Y-%m-%dT%H:%M")


async def sign_in(page: Page, username: str, path: str = "/console") -> None:
    await page.goto(path)
    await page.fill("#username", username)
    await page.fill("#password", DEMO_PASSWORD)
    await page.click("button#sign-in")
    await expect(page.locator("#console-shell")).to_be_visible()


@pytest.fixture
async def second_desktop(browser: Browser, live_server: LiveServer) -> AsyncIterator[Page]:
    """A second person's browser (its own storage: its own sign-in)."""
    context: BrowserContext = await browser.new_context(
        base_url=live_server.base_url, viewport=DESKTOP, locale="ja-JP", timezone_id="Asia/Tokyo"
    )
    yield await watched(await context.new_page())
    await context.close()


async def fill_campaign(
    page: Page,
    *,
    name: str,
    starts: datetime,
    ends: datetime,
    resident: str,
    merchant: str = "5",
    budget: str = "100000",
    per_payment: str = "",
    monthly: str = "",
) -> None:
    await page.fill("#c-name", name)
    await page.fill("#c-starts", tokyo_input(starts))
    await page.fill("#c-ends", tokyo_input(ends))
    await page.fill("#c-resident-rate", resident)
    await page.fill("#c-merchant-rate", merchant)
    await page.fill("#c-budget", budget)
    await page.fill("#c-cap-payment", per_payment)
    await page.fill("#c-cap-monthly", monthly)


async def campaigns_named(live_server: LiveServer, token: str, name: str) -> list[dict[str, Any]]:
    answer = await live_server.api("GET", "/api/v1/campaigns", token=token, params={"q": name})
    answer.raise_for_status()
    return [c for c in answer.json()["items"] if c["name"] == name]


async def test_officer_drafts_and_submits_then_a_second_person_approves(
    desktop: Page, second_desktop: Page, live_server: LiveServer
) -> None:
    officer_token = await live_server.token("officer")
    name = f"商店街応援 30% {uuid.uuid4().hex[:6]}"
    now = datetime.now(TOKYO)

    await sign_in(desktop, "officer")
    await expect(desktop.locator("#who-role")).to_have_text(message("console.role.officer"))
    await desktop.click("#new-campaign")
    await expect(desktop.locator("#campaign-form")).to_be_visible()
    await fill_campaign(
        desktop,
        name=name,
        starts=now - timedelta(hours=1),
        ends=now + timedelta(days=7),
        resident="30",
        merchant="5",
        budget="100000",
        per_payment="3000",
        monthly="10000",
    )
    await desktop.click("#save-campaign")
    await desktop.wait_for_url(re.compile(r".*/console#/campaigns/\d+$"))
    campaign_id = int(desktop.url.rsplit("/", 1)[-1])
    await expect(desktop.locator("#campaign-name")).to_have_text(name)
    await expect(desktop.locator("#campaign-status .badge")).to_have_attribute(
        "data-status", "draft"
    )

    # What the server holds is what the form said, in basis points and Tokyo time.
    answer = await live_server.api("GET", f"/api/v1/campaigns/{campaign_id}", token=officer_token)
    held = answer.json()
    assert (held["resident_rate_bp"], held["merchant_rate_bp"], held["budget"]) == (
        3000,
        500,
        100_000,
    )
    assert (held["per_payment_cap"], held["per_resident_monthly_cap"]) == (3000, 10_000)
    assert held["per_resident_cap"] is None
    assert (
        held["created_by"]
        == (await live_server.api("GET", "/api/v1/auth/me", token=officer_token)).json()["user_id"]
    )

    # The estimate: a range from no uplift to the assumed one, with how it is worked out.
    await expect(desktop.locator("#estimate-range")).to_contain_text(YEN)
    await expect(desktop.locator("#estimate-card summary")).to_have_text(
        message("console.estimate.method")
    )

    await desktop.click("#submit-campaign")
    await expect(desktop.locator("#campaign-status .badge")).to_have_attribute(
        "data-status", "submitted"
    )
    approve = desktop.locator("#approve-campaign")
    await expect(approve).to_be_disabled()
    await expect(desktop.locator("#approve-note")).to_have_text(
        message("console.campaign.approve_self")
    )
    await expect(desktop.locator("#audit-trail li[data-action='submit']")).to_contain_text(
        message("console.audit.you", username="officer")
    )

    # The approver, in another browser, approves it.
    await sign_in(second_desktop, "approver", f"/console#/campaigns/{campaign_id}")
    await expect(second_desktop.locator("#campaign-name")).to_have_text(name)
    await expect(second_desktop.locator("#approve-campaign")).to_be_enabled()
    await second_desktop.click("#approve-campaign")
    # Approval moves money: the dialog says how much, from where, before it is done.
    await expect(second_desktop.locator("#approve-money")).to_contain_text(
        await yen(second_desktop, 100_000)
    )
    await second_desktop.click("#approve-dialog-confirm")
    await expect(second_desktop.locator("#campaign-status .badge")).to_have_attribute(
        "data-status", "active"
    )
    await expect(second_desktop.locator("#budget-remaining")).to_have_text(
        await yen(second_desktop, 100_000)
    )

    answer = await live_server.api("GET", f"/api/v1/campaigns/{campaign_id}", token=officer_token)
    assert answer.json()["status"] == "active"
    assert answer.json()["approved_by"] != held["created_by"]
    # The officer's open page follows: the poll sees the approval.
    await expect(desktop.locator("#campaign-status .badge")).to_have_attribute(
        "data-status", "active"
    )
    await expect(desktop.locator("#approve-campaign")).to_have_count(0)
    await expect(desktop.locator("#burn-chart")).to_be_visible()
    assert_no_page_errors(desktop)
    assert_no_page_errors(second_desktop)


async def test_an_approver_cannot_approve_their_own_campaign(
    desktop: Page, live_server: LiveServer
) -> None:
    token = await live_server.token("approver")
    now = datetime.now(TOKYO)
    body = {
        "name": f"自己承認の確認 {uuid.uuid4().hex[:6]}",
        "starts_at": (now + timedelta(days=1)).isoformat(),
        "ends_at": (now + timedelta(days=8)).isoformat(),
        "resident_rate_bp": 1000,
        "budget": 50_000,
    }
    created = await live_server.api("POST", "/api/v1/campaigns", token=token, json=body)
    assert created.status_code == 201, created.text
    campaign_id = created.json()["id"]
    submitted = await live_server.api(
        "POST", f"/api/v1/campaigns/{campaign_id}/submit", token=token
    )
    assert submitted.status_code == 200

    await sign_in(desktop, "approver", f"/console#/campaigns/{campaign_id}")
    await expect(desktop.locator("#approve-campaign")).to_be_disabled()
    await expect(desktop.locator("#approve-note")).to_have_text(
        message("console.campaign.approve_self")
    )
    # Were the button pressed anyway (a stale page), the server's refusal is what shows.
    await desktop.evaluate("document.querySelector('#approve-campaign').disabled = false")
    await desktop.click("#approve-campaign")
    await desktop.click("#approve-dialog-confirm")
    await expect(desktop.locator("#action-error")).to_have_text(
        message("problem.campaign-self-approval")
    )
    answer = await live_server.api("GET", f"/api/v1/campaigns/{campaign_id}", token=token)
    assert answer.json()["status"] == "submitted"
    # A reject sends it back to draft, with the reason in the audit trail.
    await desktop.click("#reject-campaign")
    await desktop.fill("#reject-reason", "予算額を見直してください")
    await desktop.click("#reject-confirm")
    await expect(desktop.locator("#campaign-status .badge")).to_have_attribute(
        "data-status", "draft"
    )
    await expect(desktop.locator("#audit-trail li[data-action='reject']")).to_contain_text(
        "予算額を見直してください"
    )
    assert_no_page_errors(desktop)


async def pay_once(live_server: LiveServer, amount: int) -> dict[str, Any]:
    """A resident pays the demo's first shop by its sticker code, over the API."""
    resident = await live_server.token(live_server.resident_login)
    shop = await live_server.token(live_server.ward.shop_username)
    qr = await live_server.api("GET", "/api/v1/merchant/qr?format=payload", token=shop)
    qr.raise_for_status()
    paid = await live_server.api(
        "POST",
        "/api/v1/payments",
        token=resident,
        json={"qr_payload": qr.text, "amount": amount},
        headers={"Idempotency-Key": str(uuid.uuid4())},
    )
    assert paid.status_code == 201, paid.text
    result: dict[str, Any] = paid.json()
    return result


async def test_the_budget_burn_chart_moves_after_a_payment(
    desktop: Page, live_server: LiveServer
) -> None:
    campaign_id = live_server.ward.campaign_id
    token = await live_server.token("officer")
    await sign_in(desktop, "officer", f"/console#/campaigns/{campaign_id}")
    chart = desktop.locator("#burn-chart")
    await expect(chart).to_have_attribute("data-points", json_list_of_at_least(2))
    before_points: list[list[int]] = json.loads(await chart.get_attribute("data-points") or "[]")
    held = (await live_server.api("GET", f"/api/v1/campaigns/{campaign_id}", token=token)).json()
    # The line starts at the full budget at the approval.
    assert before_points[0][1] == held["budget"]
    before_text = await desktop.locator("#budget-remaining").inner_text()

    paid = await pay_once(live_server, 2_000)
    burnt = paid["rewards"]["resident_points"] + paid["rewards"]["merchant_cashback"]
    assert burnt > 0

    await expect(desktop.locator("#budget-remaining")).not_to_have_text(before_text, timeout=10_000)
    after = (await live_server.api("GET", f"/api/v1/campaigns/{campaign_id}", token=token)).json()
    expected = await yen(desktop, after["budget_remaining"])
    await expect(desktop.locator("#budget-remaining")).to_have_text(expected)
    points = await desktop.evaluate(
        "JSON.parse(document.querySelector('#burn-chart').dataset.points)"
    )
    assert len(points) == len(before_points) + 1
    assert points[-1][1] == after["budget_remaining"]
    assert points[-1][1] <= before_points[-1][1] - burnt
    # The chart itself drew the new point.
    drawn = await desktop.evaluate(
        "Chart.getChart(document.querySelector('#burn-chart')).data.datasets[0].data.length"
    )
    assert drawn == len(points)
    # The rewarded payments follow too.
    await expect(desktop.locator("#rewarded-payments")).to_have_text(
        f"{after['rewards']['payments']:,}"
    )
    await screenshot(desktop, "console-campaign-burn")
    assert_no_page_errors(desktop)


def json_list_of_at_least(n: int) -> Any:
    """A regex for a JSON array of at least n [x, y] pairs."""
    return re.compile(r"^\[" + r"\[[-\d.]+,[-\d.]+\]," * (n - 1) + r"\[[-\d.]+,[-\d.]+\]")


async def test_the_campaign_form_refuses_what_the_rules_refuse(
    desktop: Page, live_server: LiveServer
) -> None:
    token = await live_server.token("officer")
    name = f"検証 {uuid.uuid4().hex[:6]}"
    now = datetime.now(TOKYO)
    await sign_in(desktop, "officer", "/console#/campaigns/new")
    await fill_campaign(
        desktop,
        name=name,
        starts=now + timedelta(days=3),
        ends=now + timedelta(days=1),
        resident="150",
    )
    await desktop.click("#save-campaign")
    await expect(desktop.locator("#c-ends-error")).to_have_text(
        message("console.error.end_before_start")
    )
    await expect(desktop.locator("#c-resident-rate-error")).to_have_text(
        message("console.error.rate_range")
    )
    await expect(desktop.locator("#c-resident-rate")).to_have_attribute("aria-invalid", "true")
    await expect(desktop.locator(".form-summary")).to_be_visible()
    await expect(desktop.locator("#c-ends")).to_have_attribute("aria-invalid", "true")
    # A monthly cap below the per-payment cap, and one above the budget.
    await fill_campaign(
        desktop,
        name=name,
        starts=now + timedelta(days=1),
        ends=now + timedelta(days=3),
        resident="30",
        budget="5000",
        per_payment="3000",
        monthly="1000",
    )
    await desktop.fill("#c-cap-resident", "9000")
    await desktop.click("#save-campaign")
    await expect(desktop.locator("#c-cap-monthly-error")).to_be_visible()
    await expect(desktop.locator("#c-cap-resident-error")).to_have_text(
        message("console.error.cap_above_budget")
    )
    await desktop.evaluate("window.scrollTo(0, 0)")
    await screenshot(desktop, "console-campaign-form-errors")

    # What only the server knows (its clock): a window already over comes back as a 422
    # and is shown on the end field.
    await fill_campaign(
        desktop,
        name=name,
        starts=now - timedelta(days=3),
        ends=now - timedelta(days=1),
        resident="30",
    )
    await desktop.fill("#c-cap-resident", "")
    await desktop.click("#save-campaign")
    await expect(desktop.locator("#c-ends-error")).to_have_text(message("console.error.ends_past"))
    assert desktop.url.endswith("#/campaigns/new")
    assert await campaigns_named(live_server, token, name) == []
    assert_no_page_errors(desktop)


async def apply_as_shop(live_server: LiveServer, shop_name: str) -> int:
    """A shop applies through the public API; the application waits in the queue."""
    suffix = uuid.uuid4().hex[:6]
    applied = await live_server.api(
        "POST",
        "/api/v1/merchants",
        json={
            "name": shop_name,
            "name_kana": "マチノヤオヤ",
            "category": "grocery",
            "store_type": "small",
            "shopping_street_id": 1,
            "postal_code": "155-0031",
            "address": "世田谷区北沢2-1-1",
            "owner_username": f"yaoya-{suffix}",
            "owner_password": "a-long-enough-password",
            "bank": {
                "bank_code": "0001",
                "branch_code": "001",
                "account_type": "ordinary",
                "account_number": "1234567",
                "account_name_kana": "ﾏﾁﾉﾔｵﾔ",
            },
        },
    )
    assert applied.status_code == 201, applied.text
    return int(applied.json()["id"])


async def test_an_officer_approves_a_merchant_application(
    desktop: Page, live_server: LiveServer
) -> None:
    shop_name = f"まちの八百屋 {uuid.uuid4().hex[:6]}"
    merchant_id = await apply_as_shop(live_server, shop_name)

    await sign_in(desktop, "officer", "/console#/merchants")
    card = desktop.locator(f"li.application[data-merchant-id='{merchant_id}']")
    await expect(card).to_contain_text(shop_name)
    await expect(card).to_contain_text("〒155-0031 世田谷区北沢2-1-1")
    await expect(card).to_contain_text("下北沢一番街商店街")
    approve = card.get_by_role("button", name=message("console.merchants.approve"))
    await approve.click()
    # Two people open a shop: the officer's approval is the first, and it waits.
    await expect(card.locator(".second-approval")).to_be_visible()
    await expect(approve).to_be_disabled()
    token = await live_server.token("officer")
    pending = await live_server.api("GET", "/api/v1/merchants?status=pending", token=token)
    assert {m["id"]: m for m in pending.json()}[merchant_id]["first_approved_by"] is not None
    second = await live_server.api(
        "POST",
        f"/api/v1/merchants/{merchant_id}/approve",
        token=await live_server.token("operator"),
    )
    assert second.status_code == 200 and second.json()["status"] == "active", second.text

    active = await live_server.api("GET", "/api/v1/merchants?status=active&limit=500", token=token)
    assert merchant_id in [m["id"] for m in active.json()]

    # The shop is in the active list, where it can be suspended and reinstated.
    await desktop.click("#tab-active")
    row = desktop.locator(f"#shops-table tr[data-merchant-id='{merchant_id}']")
    await row.get_by_role("button", name=message("console.merchants.suspend")).click()
    await desktop.fill("#suspend-dialog-reason", "書類の確認のため")
    await desktop.click("#suspend-dialog-confirm")
    await expect(row).to_have_count(0)
    suspended = await live_server.api("GET", "/api/v1/merchants?status=suspended", token=token)
    assert merchant_id in [m["id"] for m in suspended.json()]
    await desktop.click("#tab-suspended")
    row = desktop.locator(f"#shops-table tr[data-merchant-id='{merchant_id}']")
    await row.get_by_role("button", name=message("console.merchants.reinstate")).click()
    await desktop.click("#reinstate-dialog-confirm")
    await expect(row).to_have_count(0)
    active = await live_server.api("GET", "/api/v1/merchants?status=active&limit=500", token=token)
    assert merchant_id in [m["id"] for m in active.json()]
    assert_no_page_errors(desktop)


async def test_an_officer_publishes_a_notice_to_one_district(
    desktop: Page, live_server: LiveServer
) -> None:
    districts = (await live_server.api("GET", "/api/v1/districts")).json()
    district = districts[3]
    title = f"{district['name']}地区 商店街まつり {uuid.uuid4().hex[:4]}"
    await sign_in(desktop, "officer", "/console#/notices")
    # Nothing typed: the form says what is missing and publishes nothing.
    await desktop.click("#publish-notice")
    await expect(desktop.locator("#n-title-error")).to_be_visible()
    await desktop.fill("#n-title", title)
    await desktop.fill("#n-body", "今週末、地区の商店街でまつりを開催します。まちペイで30%還元。")
    await desktop.select_option("#n-district", district["id"])
    await desktop.click("#publish-notice")
    await desktop.click("#notice-dialog-confirm")
    item = desktop.locator("#notice-list li").filter(has_text=title)
    await expect(item).to_contain_text(district["name"])

    token = await live_server.token("officer")
    notices = (await live_server.api("GET", "/api/v1/notices", token=token)).json()
    published = [n for n in notices if n["title"] == title]
    assert len(published) == 1 and published[0]["district_id"] == district["id"]
    assert_no_page_errors(desktop)


async def test_an_officer_adds_a_shopping_street(desktop: Page, live_server: LiveServer) -> None:
    name = f"テスト通り商店街 {uuid.uuid4().hex[:4]}"
    await sign_in(desktop, "officer", "/console#/streets")
    await desktop.click("#create-street")
    await expect(desktop.locator("#s-district-error")).to_be_visible()
    await desktop.fill("#s-name", name)
    await desktop.fill("#s-name-en", "Test-dori")
    await desktop.select_option("#s-district", "kitazawa")
    await desktop.click("#create-street")
    row = desktop.locator("#streets-table tr").filter(has_text=name)
    await expect(row).to_contain_text("北沢")
    streets = (await live_server.api("GET", "/api/v1/shopping-streets")).json()
    assert [s["district_id"] for s in streets if s["name"] == name] == ["kitazawa"]
    assert_no_page_errors(desktop)


async def test_the_operator_runs_settlement_and_makes_a_payout_file(
    desktop: Page, live_server: LiveServer
) -> None:
    await sign_in(desktop, "operator")
    nav = desktop.locator("#nav-list a")
    await expect(nav.first).to_have_attribute("data-screen", "operations")
    await expect(desktop.locator("#nav-list a[data-screen='notices']")).to_have_count(0)
    yesterday = (datetime.now(TOKYO) - timedelta(days=1)).date().isoformat()
    await expect(desktop.locator("#as-of")).to_have_value(yesterday)
    await desktop.click("#run-settlement")
    result = desktop.locator("#settlement-result")
    await expect(result.locator(".alert")).to_contain_text(yesterday)
    await expect(result.locator("dl")).to_contain_text(message("console.ops.settled"))

    # Today is not over: the form refuses it before the server would.
    today = datetime.now(TOKYO).date().isoformat()
    await desktop.fill("#as-of", today)
    await desktop.click("#run-settlement")
    await expect(desktop.locator("#as-of-error")).to_have_text(message("console.ops.as_of_past"))

    await desktop.click("#create-payout-file")
    made = desktop.locator("#download-zengin")
    none = desktop.locator("#payout-file-result").get_by_text(message("console.ops.no_pending"))
    await expect(made.or_(none)).to_be_visible()
    if await made.count():
        async with desktop.expect_download() as info:
            await made.click()
        download = await info.value
        assert download.suggested_filename.startswith("zengin-")
    await assert_accessible(desktop, context="operations")
    await screenshot(desktop, "console-operations")
    # Campaigns are there to read, with no buttons to change them.
    await desktop.click("#nav-list a[data-screen='campaigns']")
    await expect(desktop.locator("#campaign-list li").first).to_be_visible()
    await expect(desktop.locator("#new-campaign")).to_have_count(0)
    await desktop.goto(f"/console#/campaigns/{live_server.ward.campaign_id}")
    await expect(desktop.locator("#campaign-name")).to_be_visible()
    await expect(desktop.locator("#end-campaign")).to_have_count(0)
    assert_no_page_errors(desktop)


async def test_accounts_that_are_not_ward_staff_are_told_so(desktop: Page) -> None:
    await desktop.goto("/console")
    await desktop.fill("#username", "officer")
    await desktop.fill("#password", "not-the-password")
    await desktop.click("button#sign-in")
    await expect(desktop.locator("#sign-in-error")).to_have_text(
        message("problem.invalid-credentials")
    )
    await desktop.fill("#password", DEMO_PASSWORD)
    await desktop.fill("#username", "analyst")
    await desktop.click("button#sign-in")
    await expect(desktop.locator("#wrong-role-view")).to_be_visible()
    await expect(desktop.locator("#wrong-role-link")).to_have_attribute("href", "/analytics")
    await expect(desktop.locator("#console-shell")).to_be_hidden()
    await assert_accessible(desktop, context="console wrong role")
    # Signed out again: a reload asks for a sign-in.
    await desktop.reload()
    await expect(desktop.locator("#sign-in-view")).to_be_visible()
    assert_no_page_errors(desktop)


async def test_console_screens_look_finished_on_desktop(
    desktop: Page, live_server: LiveServer
) -> None:
    await look_at_every_screen(desktop, "desktop", live_server)


async def test_console_screens_look_finished_on_a_phone(
    phone: Page, live_server: LiveServer
) -> None:
    await look_at_every_screen(phone, "phone", live_server)


async def look_at_every_screen(page: Page, device: str, live_server: LiveServer) -> None:
    campaign_id = live_server.ward.campaign_id
    await page.goto("/console")
    await expect(page.locator("#sign-in-view")).to_be_visible()
    await assert_accessible(page, context=f"sign-in {device}")
    await screenshot(page, "console-sign-in")

    await page.fill("#username", "officer")
    await page.fill("#password", DEMO_PASSWORD)
    await page.click("button#sign-in")
    await expect(page.locator("#campaign-list li").first).to_be_visible()
    await assert_accessible(page, context=f"campaigns {device}")
    await screenshot(page, "console-campaigns")

    if device == "phone":
        toggle = page.locator("#menu-toggle")
        await expect(page.locator("#console-nav")).to_be_hidden()
        await toggle.click()
        await expect(toggle).to_have_attribute("aria-expanded", "true")
        await expect(page.locator("#console-nav")).to_be_visible()
        await screenshot(page, "console-menu")
        await page.locator("#nav-list a[data-screen='notices']").click()
        await expect(page.locator("#notice-list")).to_be_visible()
        await expect(page.locator("#console-nav")).to_be_hidden()
    else:
        await expect(page.locator("#console-nav")).to_be_visible()
        await expect(page.locator("#menu-toggle")).to_be_hidden()

    await page.goto("/console#/campaigns/new")
    await expect(page.locator("#campaign-form")).to_be_visible()
    await assert_accessible(page, context=f"campaign form {device}")
    await screenshot(page, "console-campaign-form")

    await page.goto(f"/console#/campaigns/{campaign_id}")
    await expect(page.locator("#burn-chart")).to_have_attribute(
        "data-points", json_list_of_at_least(2)
    )
    await expect(page.locator("#estimate-range")).to_be_visible()
    await expect(page.locator("#totals-table")).to_be_visible()
    await assert_accessible(page, context=f"campaign detail {device}")
    await screenshot(page, "console-campaign-detail")

    await page.click("#report-link")
    await expect(page.locator("#report-table")).to_be_visible()
    await expect(page.locator("#report-uplift")).to_contain_text(YEN)
    await assert_accessible(page, context=f"effect report {device}")
    await screenshot(page, "console-effect-report")

    await apply_as_shop(live_server, f"まちかど八百屋 {device}")
    await page.goto("/console#/merchants")
    await expect(page.locator("#merchant-queue")).to_be_visible()
    await assert_accessible(page, context=f"merchants {device}")
    await screenshot(page, "console-merchants")

    await page.goto("/console#/notices")
    await expect(page.locator("#notice-list")).to_be_visible()
    await assert_accessible(page, context=f"notices {device}")
    await screenshot(page, "console-notices")

    await page.goto("/console#/streets")
    await expect(page.locator("#streets-table")).to_be_visible()
    await assert_accessible(page, context=f"streets {device}")
    await screenshot(page, "console-streets")

    # English is one switch away, and the console stays signed in.
    await page.goto(f"/console?lang=en#/campaigns/{campaign_id}")
    await expect(page.locator("#who-role")).to_have_text(message("console.role.officer", "en"))
    await expect(page.locator("#burn-card h2")).to_have_text(message("console.burn.title", "en"))
    await screenshot(page, "console-campaign-detail-en")
    await page.goto("/console?lang=ja")
    assert_no_page_errors(page)
