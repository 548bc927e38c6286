"""Issue 22 item 5 in a real Chromium: what an officer is shown before using a power.

Suspending a shop asks a reason (required, recorded, shown to the shop); approving a
campaign shows the money it moves from bank:city and its terms; a notice is previewed as
residents will see it. Each is a <dialog> that holds focus, cancels with Escape and gives
focus back. Drafts are edited and withdrawn; the burn chart draws the campaign's history
from the database; the effect report says why each hidden row is hidden. Screenshots at
phone and desktop sizes land in artifacts/screenshots/.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any

from playwright.async_api import Page, Route, expect
from sqlalchemy import text

from tests.web.conftest import (
    PHONE,
    LiveServer,
    assert_accessible,
    assert_no_page_errors,
    screenshot,
)
from tests.web.test_console import TOKYO, message, pay_once, sign_in, yen

OWNER_PASSWORD = "a-long-enough-password"


async def open_shop(live_server: LiveServer, name: str) -> tuple[int, str]:
    """A shop applies and two members of staff approve it; its id and owner login."""
    owner = f"yaoya-{uuid.uuid4().hex[:6]}"
    applied = await live_server.api(
        "POST",
        "/api/v1/merchants",
        json={
            "name": name,
            "name_kana": "マチノヤオヤ",
            "category": "grocery",
            "store_type": "small",
            "shopping_street_id": 1,
            "postal_code": "155-0031",
            "address": "世田谷区北沢2-1-1",
            "owner_username": owner,
            "owner_password": OWNER_PASSWORD,
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
    merchant_id = int(applied.json()["id"])
    for staff in ("officer", "operator"):
        done = await live_server.api(
            "POST",
            f"/api/v1/merchants/{merchant_id}/approve",
            token=await live_server.token(staff),
        )
        assert done.status_code == 200, done.text
    return merchant_id, owner


async def shop_status(live_server: LiveServer, merchant_id: int, token: str) -> dict[str, Any]:
    for status in ("active", "suspended"):
        listed = await live_server.api(
            "GET", f"/api/v1/merchants?status={status}&limit=500", token=token
        )
        for shop in listed.json():
            if shop["id"] == merchant_id:
                return dict(shop)
    raise AssertionError(f"shop {merchant_id} is neither active nor suspended")


async def focused_id(page: Page) -> str:
    return str(await page.evaluate("document.activeElement && document.activeElement.id"))


async def both_sizes(page: Page, name: str) -> None:
    """Screenshot at the page's desktop size, then at a phone's, then back."""
    size = page.viewport_size
    await screenshot(page, name)
    await page.set_viewport_size(PHONE)
    await screenshot(page, name)
    if size:
        await page.set_viewport_size(size)


async def test_suspending_a_shop_asks_a_reason_that_the_shop_then_reads(
    desktop: Page, phone: Page, live_server: LiveServer
) -> None:
    name = f"確認の八百屋 {uuid.uuid4().hex[:6]}"
    merchant_id, owner = await open_shop(live_server, name)
    token = await live_server.token("officer")
    await sign_in(desktop, "officer", "/console#/merchants/active")
    row = desktop.locator(f"#shops-table tr[data-merchant-id='{merchant_id}']")
    suspend = row.get_by_role("button", name=message("console.merchants.suspend"))
    await suspend.click()

    dialog = desktop.get_by_role(
        "dialog", name=message("console.merchants.suspend_title", name=name)
    )
    await expect(dialog).to_be_visible()
    await expect(dialog).to_contain_text(message("console.merchants.suspend_effect_payments"))
    await expect(dialog).to_contain_text(message("console.merchants.suspend_effect_reason"))
    assert await focused_id(desktop) == "suspend-dialog-reason"  # the reason comes first
    await assert_accessible(desktop, context="suspend dialog")
    await both_sizes(desktop, "console-suspend-dialog")

    # No reason: refused in the dialog, nothing sent.
    await desktop.click("#suspend-dialog-confirm")
    await expect(desktop.locator("#suspend-dialog-reason-error")).to_have_text(
        message("console.error.required", field=message("console.merchants.suspend_reason"))
    )
    await expect(dialog).to_be_visible()
    assert (await shop_status(live_server, merchant_id, token))["status"] == "active"
    # Escape cancels; focus goes back to the button that opened it.
    await desktop.keyboard.press("Escape")
    await expect(dialog).to_have_count(0)
    assert (await shop_status(live_server, merchant_id, token))["status"] == "active"
    assert await desktop.evaluate("document.activeElement.dataset.action") == "suspend"

    reason = "売上計上の確認が終わるまで停止します"
    await suspend.click()
    await desktop.fill("#suspend-dialog-reason", reason)
    await desktop.click("#suspend-dialog-confirm")
    await expect(row).to_have_count(0)
    held = await shop_status(live_server, merchant_id, token)
    assert held["status"] == "suspended" and held["suspension_reason"] == reason
    await desktop.click("#tab-suspended")
    await expect(
        desktop.locator(f"#shops-table tr[data-merchant-id='{merchant_id}'] .suspension-reason")
    ).to_contain_text(reason)

    # The shop reads the ward's reason on its dashboard.
    await phone.goto("/merchant")
    await phone.fill("#username", owner)
    await phone.fill("#password", OWNER_PASSWORD)
    await phone.click("button#sign-in")
    await expect(phone.locator("#shop-alert")).to_contain_text(reason)
    await screenshot(phone, "merchant-suspended-reason")
    assert_no_page_errors(desktop)
    assert_no_page_errors(phone)


async def submitted_campaign(live_server: LiveServer, **changes: Any) -> dict[str, Any]:
    token = await live_server.token("officer")
    now = datetime.now(TOKYO)
    body: dict[str, Any] = {
        "name": f"承認確認 {uuid.uuid4().hex[:6]}",
        "starts_at": (now + timedelta(days=2)).isoformat(),
        "ends_at": (now + timedelta(days=9)).isoformat(),
        "resident_rate_bp": 2000,
        "merchant_rate_bp": 300,
        "budget": 345_000,
        "per_payment_cap": 1_500,
        "per_resident_monthly_cap": 6_000,
        # Only the demo's first street: this campaign must not reward other tests' payments.
        "eligibility": {"shopping_street_ids": [1], "store_types": ["small"]},
    }
    body.update(changes)
    created = await live_server.api("POST", "/api/v1/campaigns", token=token, json=body)
    assert created.status_code == 201, created.text
    campaign = dict(created.json())
    submitted = await live_server.api(
        "POST", f"/api/v1/campaigns/{campaign['id']}/submit", token=token
    )
    assert submitted.status_code == 200, submitted.text
    return campaign


async def test_approving_a_campaign_shows_the_money_it_moves_first(
    desktop: Page, live_server: LiveServer
) -> None:
    campaign = await submitted_campaign(live_server)
    token = await live_server.token("approver")
    await sign_in(desktop, "approver", f"/console#/campaigns/{campaign['id']}")
    approve = desktop.locator("#approve-campaign")
    await approve.click()
    dialog = desktop.get_by_role("dialog")
    await expect(dialog).to_be_visible()
    money = desktop.locator("#approve-money")
    await expect(money).to_contain_text(await yen(desktop, 345_000))
    await expect(money).to_contain_text("bank:city")
    await expect(money).to_contain_text(f"campaign:{campaign['id']}:budget")
    # The terms it commits to: rates and caps.
    await expect(dialog).to_contain_text("20%")
    await expect(dialog).to_contain_text("3%")
    await expect(dialog).to_contain_text("1,500 pt")
    await expect(dialog).to_contain_text("6,000 pt")
    await expect(desktop.locator("#approve-dialog-confirm")).to_contain_text(
        await yen(desktop, 345_000)
    )
    assert await focused_id(desktop) == "approve-dialog-cancel"  # a stray Enter moves nothing
    await assert_accessible(desktop, context="approve dialog")
    await both_sizes(desktop, "console-approve-dialog")

    # Cancelled: nothing moved.
    await desktop.click("#approve-dialog-cancel")
    await expect(dialog).to_have_count(0)
    held = await live_server.api("GET", f"/api/v1/campaigns/{campaign['id']}", token=token)
    assert held.json()["status"] == "submitted"
    assert await focused_id(desktop) == "approve-campaign"

    await approve.click()
    await desktop.click("#approve-dialog-confirm")
    await expect(desktop.locator("#campaign-status .badge")).to_have_attribute(
        "data-status", "approved"
    )
    held = await live_server.api("GET", f"/api/v1/campaigns/{campaign['id']}", token=token)
    assert held.json()["status"] == "approved" and held.json()["budget_remaining"] == 345_000
    # Not left running into other tests' payments.
    ended = await live_server.api("POST", f"/api/v1/campaigns/{campaign['id']}/end", token=token)
    assert ended.status_code == 200
    assert_no_page_errors(desktop)


async def test_a_notice_is_previewed_as_residents_will_see_it(
    desktop: Page, live_server: LiveServer
) -> None:
    title = f"年末の　ごみ収集 {uuid.uuid4().hex[:4]}"
    shown_title = title.replace("　", " ")  # stored NFKC, as the preview shows it
    body = "12月29日から1月3日まで収集はお休みです。\n商店街の営業時間は各店舗にご確認ください。"
    token = await live_server.token("officer")
    await sign_in(desktop, "officer", "/console#/notices")
    await desktop.fill("#n-title", title)
    await desktop.fill("#n-body", body)
    await desktop.click("#publish-notice")
    preview = desktop.locator("#notice-preview")
    await expect(preview).to_be_visible()
    await expect(preview).to_contain_text(message("console.notices.preview_card_title"))
    await expect(preview.locator(".notice-preview-title")).to_have_text(shown_title)
    assert await preview.locator(".notice-body").inner_text() == body
    await expect(desktop.get_by_role("dialog")).to_contain_text(
        message("console.notices.preview_target", target=message("console.notices.whole_ward"))
    )
    await assert_accessible(desktop, context="notice preview")
    await both_sizes(desktop, "console-notice-preview")

    # Cancelled: nothing published, the form keeps what was typed.
    await desktop.click("#notice-dialog-cancel")
    notices = (await live_server.api("GET", "/api/v1/notices", token=token)).json()
    assert not [n for n in notices if n["title"] == shown_title]
    await expect(desktop.locator("#n-title")).to_have_value(title)

    await desktop.click("#publish-notice")
    await desktop.click("#notice-dialog-confirm")
    await expect(desktop.locator("#notice-list li").filter(has_text=shown_title)).to_be_visible()
    notices = (await live_server.api("GET", "/api/v1/notices", token=token)).json()
    assert len([n for n in notices if n["title"] == shown_title]) == 1
    assert_no_page_errors(desktop)


async def test_a_draft_is_edited_then_withdrawn(desktop: Page, live_server: LiveServer) -> None:
    campaign = await submitted_campaign(live_server)
    cid = campaign["id"]
    token = await live_server.token("officer")
    await sign_in(desktop, "officer", f"/console#/campaigns/{cid}")
    await desktop.click("#edit-campaign")
    # The form holds the campaign as it is, and warns that an edit needs a new submission.
    await expect(desktop.locator("#c-name")).to_have_value(campaign["name"])
    await expect(desktop.locator("#c-budget")).to_have_value("345000")
    await expect(desktop.locator("#c-resident-rate")).to_have_value("20")
    await expect(desktop.locator("#c-cap-monthly")).to_have_value("6000")
    await expect(desktop.locator("#elig-store-small")).to_be_checked()
    await expect(desktop.locator("#edit-note")).to_have_text(
        message("console.campaigns.edit_submitted")
    )
    await both_sizes(desktop, "console-campaign-edit")
    await desktop.fill("#c-budget", "300000")
    await desktop.click("#save-campaign")
    await expect(desktop.locator("#campaign-status .badge")).to_have_attribute(
        "data-status", "draft"
    )
    held = (await live_server.api("GET", f"/api/v1/campaigns/{cid}", token=token)).json()
    assert held["budget"] == 300_000 and held["status"] == "draft"
    assert held["per_resident_monthly_cap"] == 6_000  # untouched fields stay as they were
    trail = (await live_server.api("GET", f"/api/v1/campaigns/{cid}/audit", token=token)).json()
    assert trail[-1]["action"] == "update" and set(trail[-1]["changes"]) == {"budget", "status"}

    # Withdrawn with a reason: a state change, kept with who and when.
    await desktop.click("#withdraw-campaign")
    await expect(desktop.get_by_role("dialog")).to_contain_text(
        message("console.campaign.withdraw_text")
    )
    await desktop.fill("#withdraw-dialog-reason", "来年度に見送ります")
    await both_sizes(desktop, "console-withdraw-dialog")
    await desktop.click("#withdraw-dialog-confirm")
    await expect(desktop.locator("#campaign-status .badge")).to_have_attribute(
        "data-status", "withdrawn"
    )
    await expect(desktop.locator("#audit-trail li[data-action='withdraw']")).to_contain_text(
        "来年度に見送ります"
    )
    for gone in ("#edit-campaign", "#withdraw-campaign", "#submit-campaign"):
        await expect(desktop.locator(gone)).to_have_count(0)
    await expect(desktop.locator("#withdrawn-note")).to_be_visible()
    await expect(desktop.locator("#estimate-card")).to_be_hidden()
    held = (await live_server.api("GET", f"/api/v1/campaigns/{cid}", token=token)).json()
    assert held["status"] == "withdrawn" and held["withdrawn_at"] is not None
    await both_sizes(desktop, "console-campaign-withdrawn")
    assert_no_page_errors(desktop)


@asynccontextmanager
async def an_earlier_reward(live_server: LiveServer, campaign_id: int) -> AsyncIterator[None]:
    """The demo campaign as if approved three hours ago, one payment's rewards two hours
    ago: a history that began before the page opened (put back afterwards)."""
    paid = await pay_once(live_server, 1_500)
    shift = {"c": campaign_id, "p": paid["id"]}
    async with live_server.sessionmaker() as session:
        await session.execute(
            text(
                "UPDATE campaigns SET approved_at = approved_at - interval '3 hours' WHERE id = :c"
            ),
            shift,
        )
        await session.execute(
            text(
                "UPDATE campaign_rewards SET paid_at = paid_at - interval '2 hours'"
                " WHERE campaign_id = :c AND payment_reference = :p"
            ),
            shift,
        )
        await session.commit()
    try:
        yield
    finally:
        async with live_server.sessionmaker() as session:
            await session.execute(
                text(
                    "UPDATE campaigns SET approved_at = approved_at + interval '3 hours'"
                    " WHERE id = :c"
                ),
                shift,
            )
            await session.execute(
                text(
                    "UPDATE campaign_rewards SET paid_at = paid_at + interval '2 hours'"
                    " WHERE campaign_id = :c AND payment_reference = :p"
                ),
                shift,
            )
            await session.commit()


async def test_the_burn_chart_shows_the_history_when_opened_late(
    desktop: Page, live_server: LiveServer
) -> None:
    """Issue 22: the chart showed only points fetched since the page opened."""
    campaign_id = live_server.ward.campaign_id
    token = await live_server.token("officer")
    async with an_earlier_reward(live_server, campaign_id):
        burn = (
            await live_server.api("GET", f"/api/v1/campaigns/{campaign_id}/burn", token=token)
        ).json()
        history = [
            [int(datetime.fromisoformat(p["at"]).timestamp() * 1000), p["remaining"]]
            for p in burn["points"]
        ]
        # Funded, the hour two hours ago, and the hour under way (the seed's payments).
        assert len(history) >= 3
        assert history[0][1] == burn["budget"] > history[1][1] > history[-1][1]

        await sign_in(desktop, "officer", f"/console#/campaigns/{campaign_id}")
        chart = desktop.locator("#burn-chart")
        await expect(chart).to_have_attribute("data-history", str(len(history)))
        points = json.loads(await chart.get_attribute("data-points") or "[]")
        # The database's curve, each finished hour where it happened; the hour under way
        # ends at the moment it was read.
        assert points[: len(history) - 1] == history[:-1]
        assert points[len(history) - 1][1] == history[-1][1]
        live = (
            await live_server.api("GET", f"/api/v1/campaigns/{campaign_id}", token=token)
        ).json()
        assert points[-1][1] == live["budget_remaining"]
        drawn = await desktop.evaluate(
            "Chart.getChart(document.querySelector('#burn-chart')).data.datasets[0].data.length"
        )
        assert drawn == len(points)
        await desktop.locator("#burn-card").scroll_into_view_if_needed()
        await both_sizes(desktop, "console-burn-history")
    assert_no_page_errors(desktop)


async def test_the_effect_report_says_why_each_row_is_hidden(
    desktop: Page, live_server: LiveServer
) -> None:
    campaign_id = live_server.ward.campaign_id
    streets = (await live_server.api("GET", "/api/v1/shopping-streets")).json()[:3]

    async def with_reasons(route: Route) -> None:
        # The server's real report, its street rows replaced by one of each kind: which
        # rows the demo's data hides is the API tests' business; here, what the page says.
        answer = await route.fetch()
        report = await answer.json()
        shown = {
            "spend": 120_000,
            "baseline_spend": 98_000,
            "payments": 45,
            "baseline_payments": 40,
        }
        hidden = {key: None for key in shown}
        report["by_shopping_street"] = [
            {
                "shopping_street_id": streets[0]["id"],
                "name": streets[0]["name"],
                "suppressed": False,
                "suppressed_reason": None,
                **shown,
            },
            {
                "shopping_street_id": streets[1]["id"],
                "name": streets[1]["name"],
                "suppressed": True,
                "suppressed_reason": "few_residents",
                **hidden,
            },
            {
                "shopping_street_id": streets[2]["id"],
                "name": streets[2]["name"],
                "suppressed": True,
                "suppressed_reason": "dominant_shop",
                **hidden,
            },
        ]
        report["suppressed"] = 2
        await route.fulfill(response=answer, json=report)

    await desktop.route(f"**/api/v1/campaigns/{campaign_id}/report", with_reasons)
    await sign_in(desktop, "officer", f"/console#/campaigns/{campaign_id}/report")
    table = desktop.locator("#report-table")
    await expect(table).to_be_visible()
    few = table.locator("td[data-reason='few_residents']")
    dominant = table.locator("td[data-reason='dominant_shop']")
    await expect(few).to_have_text("対象者が少ないため非表示")
    await expect(dominant).to_have_text("特定の店舗の割合が大きいため非表示")
    await expect(table.locator("tbody tr").first).to_contain_text(await yen(desktop, 120_000))
    # First-time visitors are people, counted once.
    await expect(desktop.locator("#report-new").locator("..")).to_contain_text(
        message("console.report.new_to_shop_note")
    )
    await assert_accessible(desktop, context="effect report reasons")
    await both_sizes(desktop, "console-report-reasons")

    # The real answer over HTTP: every hidden row carries a code the page words.
    token = await live_server.token("officer")
    real = (
        await live_server.api("GET", f"/api/v1/campaigns/{campaign_id}/report", token=token)
    ).json()
    for row in real["by_shopping_street"]:
        assert (row["suppressed_reason"] is not None) == row["suppressed"]
    assert_no_page_errors(desktop)
