"""The help desk (窓口) screens of the ward console in a real Chromium: a look-up that will not
run without a reason, the resident's summary, freeze and unfreeze, a cash top-up with its
printable receipt, a closure asked for by one member of staff and approved by another, and
the resident reading the look-ups in the app's アクセス履歴. Outcomes are checked over HTTP."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser, BrowserContext, Page, expect

from tests.web.conftest import (
    DESKTOP,
    LiveServer,
    assert_accessible,
    assert_no_page_errors,
    screenshot,
    watched,
)
from tests.web.test_console import message, sign_in, yen
from tests.web.test_resident_app import sign_in as resident_sign_in


@pytest.fixture
async def second_desk(browser: Browser, live_server: LiveServer) -> AsyncIterator[Page]:
    context: BrowserContext = await browser.new_context(
        base_url=live_server.base_url, viewport=DESKTOP, locale="ja-JP", timezone_id="Asia/Tokyo"
    )
    yield await watched(await context.new_page())
    await context.close()


async def search(page: Page, value: str, reason: str, *, by: str = "phone") -> None:
    await page.select_option("#search-by", by)
    await page.fill("#search-value", value)
    await page.fill("#search-reason", reason)
    await page.click("button#search")


async def test_desk_looks_up_freezes_and_takes_cash_with_a_receipt(
    desktop: Page, phone: Page, live_server: LiveServer
) -> None:
    await sign_in(desktop, "desk")
    await expect(desktop.locator("#desk-search")).to_be_visible()
    resident_phone = live_server.resident_login

    # No reason, no look-up: the field says so and nothing reaches the server.
    await desktop.fill("#search-value", resident_phone)
    await desktop.click("button#search")
    await expect(desktop.locator("#search-reason-error")).to_have_text(
        message("desk.reason_missing")
    )
    await expect(desktop.locator("#resident-summary")).to_have_count(0)

    await search(desktop, resident_phone, "ご本人来庁・残高照会")
    summary = desktop.locator("#resident-summary")
    await expect(summary).to_be_visible()
    await expect(desktop.locator("#summary-status")).to_have_text(message("desk.status.active"))
    wallet_id = await desktop.locator("#summary-wallet").inner_text()
    # The demo resident entered the SMS code: the summary says so, with when.
    verified = desktop.locator("#summary-verified")
    await expect(verified).to_have_attribute("data-verified", "true")
    await expect(verified).to_contain_text("確認済み")
    await assert_accessible(desktop, context="desk summary")
    await screenshot(desktop, "desk-summary")

    resident_token = await live_server.token(live_server.ward.resident_phone)
    await desktop.fill("#freeze-reason", "スマートフォン紛失の届出")
    await desktop.click("button#freeze")
    await expect(desktop.locator("#summary-status")).to_have_text(message("desk.status.frozen"))
    refused = await live_server.api("POST", "/api/v1/wallet/one-time-code", token=resident_token)
    assert refused.status_code == 403 and refused.json()["type"].endswith("/wallet-frozen")
    await screenshot(desktop, "desk-frozen")
    await desktop.fill("#freeze-reason", "スマートフォンが見つかった")
    await desktop.click("button#freeze")
    await expect(desktop.locator("#summary-status")).to_have_text(message("desk.status.active"))
    allowed = await live_server.api("POST", "/api/v1/wallet/one-time-code", token=resident_token)
    assert allowed.status_code == 201, allowed.text

    before = (await live_server.api("GET", "/api/v1/wallet", token=resident_token)).json()["money"]
    await expect(desktop.locator("#cash-wallet")).to_have_value(wallet_id)
    await desktop.fill("#cash-amount", "３０００")  # typed full-width, as an IME does
    await desktop.fill("#cash-reason", "窓口での現金チャージ")
    await desktop.click("button#cash-top-up")
    receipt = desktop.locator("#receipt")
    await expect(receipt).to_contain_text("領収書")
    await expect(receipt).to_contain_text(wallet_id)
    await expect(receipt).to_contain_text("¥3,000")
    await expect(receipt).to_contain_text("北沢まちづくりセンター")
    await expect(desktop.locator("#print-receipt")).to_be_visible()
    after = (await live_server.api("GET", "/api/v1/wallet", token=resident_token)).json()["money"]
    assert after == before + 3_000
    await receipt.scroll_into_view_if_needed()
    await screenshot(desktop, "desk-receipt")
    # Printing shows the receipt alone.
    await desktop.emulate_media(media="print")
    assert (
        await desktop.locator("#desk-search").evaluate("el => getComputedStyle(el).visibility")
        == "hidden"
    )
    assert await receipt.evaluate("el => getComputedStyle(el).visibility") == "visible"
    await desktop.emulate_media(media="screen")
    assert_no_page_errors(desktop)

    # The resident reads who looked, when and why, in the app.
    await resident_sign_in(phone, resident_phone)
    await phone.click("#access-link")
    items = phone.locator("#access-list li")
    await expect(items.first).to_be_visible()
    text = await phone.locator("#access-list").inner_text()
    for expected in (
        "ご本人来庁・残高照会",
        "スマートフォン紛失の届出",
        "窓口での現金チャージ",
        "窓口 花子",
    ):
        assert expected in text, expected
    assert "desk" not in text  # the display name, never the login
    await assert_accessible(phone, context="access history")
    await screenshot(phone, "app-access-history")
    assert_no_page_errors(phone)


async def test_a_closure_asked_for_at_one_desk_is_approved_by_another(
    desktop: Page, second_desk: Page, live_server: LiveServer
) -> None:
    number = f"080-7{uuid.uuid4().int % 1000:03d}-{uuid.uuid4().int % 10000:04d}"
    created = await live_server.api(
        "POST",
        "/api/v1/residents",
        json={
            "phone": number,
            "password": "closing-passphrase-1",
            "display_name": "転出 太郎",
            "birth_year": 1970,
            "district": "kitazawa",
        },
    )
    assert created.status_code == 201, created.text
    wallet_id = created.json()["wallet_id"]

    await sign_in(desktop, "desk")
    await search(desktop, wallet_id, "解約の申出", by="wallet_id")
    await expect(desktop.locator("#resident-summary")).to_be_visible()
    await desktop.fill("#cash-amount", "5000")
    await desktop.fill("#cash-reason", "窓口での現金チャージ")
    await desktop.click("button#cash-top-up")
    await expect(desktop.locator("#receipt")).to_contain_text("¥5,000")

    await desktop.fill("#bank-code", "0005")
    await desktop.fill("#branch-code", "１３５")
    await desktop.fill("#account-number", "7654321")
    await desktop.fill("#account-name", "テンシュツ タロウ")
    await desktop.fill("#closure-reason", "区外転出のため解約")
    await desktop.click("button#request-closure")
    await expect(desktop.locator("#summary-closures")).to_contain_text(
        message("desk.closure_status.pending")
    )
    await screenshot(desktop, "desk-closure-requested")

    # The requester sees their own request and cannot approve it.
    await desktop.goto("/console#/closures")
    own = desktop.locator("tr[data-closure]").filter(has_text="区外転出のため解約")
    await expect(own).to_contain_text(message("desk.own_request"))

    await sign_in(second_desk, "desk2")
    await second_desk.goto("/console#/closures")
    row = second_desk.locator("tr[data-closure]").filter(has_text="区外転出のため解約")
    await expect(row).to_be_visible()
    await assert_accessible(second_desk, context="closures")
    await screenshot(second_desk, "desk-closures")
    await row.locator("button[data-approve]").click()
    await expect(row).to_have_count(0)

    await second_desk.goto("/console#/desk")
    await search(second_desk, wallet_id, "解約後の確認", by="wallet_id")
    await expect(second_desk.locator("#summary-status")).to_have_text(message("desk.status.closed"))
    await expect(second_desk.locator("#summary-money")).to_contain_text("0")
    await screenshot(second_desk, "desk-closed")
    login = await live_server.api(
        "POST", "/api/v1/auth/token", json={"username": number, "password": "closing-passphrase-1"}
    )
    assert login.status_code == 401
    assert_no_page_errors(desktop)
    assert_no_page_errors(second_desk)


async def test_a_counter_s_cash_up_is_declared_by_one_and_confirmed_by_another(
    desktop: Page, second_desk: Page, phone: Page, live_server: LiveServer
) -> None:
    """The day-end cash-up: the clerk declares ¥1 counted (blind), cannot confirm it
    themselves; a colleague confirms and the difference against the day's counter top-ups
    is shown, as the API recorded it."""
    await sign_in(desktop, "desk")
    await desktop.goto("/console#/cashups")
    form = desktop.locator("#cash-up-form")
    await expect(form).to_be_visible()
    # Nothing typed: the field says what is missing, in Japanese.
    await desktop.click("button#declare-cash-up")
    await expect(desktop.locator("#cash-up-counted-error")).to_have_text(
        message("desk.cash_up.counted_missing")
    )
    await desktop.fill("#cash-up-counted", "１")  # full-width, as an IME types it
    await desktop.fill("#cash-up-note", "閉庁時の照合")
    await desktop.click("button#declare-cash-up")
    await expect(desktop.locator("#cash-up-declared .alert-success")).to_be_visible()
    own = desktop.locator("#cash-ups-pending tr[data-cash-up]").first
    await expect(own).to_contain_text(message("desk.cash_up.own"))
    await expect(own.locator("button[data-confirm]")).to_have_count(0)
    await assert_accessible(desktop, context="cash-up")
    await screenshot(desktop, "desk-cash-up-declared")

    await sign_in(second_desk, "desk2")
    await second_desk.goto("/console#/cashups")
    row = second_desk.locator("#cash-ups-pending tr[data-cash-up]").filter(
        has_text="北沢まちづくりセンター"
    )
    await expect(row).to_be_visible()
    await row.locator("button[data-confirm]").click()
    done = second_desk.locator("#cash-ups-done tr[data-cash-up]").first
    await expect(done).to_be_visible()

    token = await live_server.token("desk2")
    confirmed = (
        await live_server.api("GET", "/api/v1/desk/cash-ups?status=confirmed", token=token)
    ).json()[0]
    assert confirmed["counted"] == 1 and confirmed["expected"] is not None
    assert confirmed["difference"] == 1 - confirmed["expected"]
    badge = done.locator("[data-difference]")
    await expect(badge).to_have_attribute("data-difference", str(confirmed["difference"]))
    if confirmed["difference"]:
        amount = await yen(second_desk, abs(confirmed["difference"]))
        side = "desk.cash_up.over" if confirmed["difference"] > 0 else "desk.cash_up.short"
        await expect(badge).to_have_text(message(side, amount=amount))
    await screenshot(second_desk, "desk-cash-up-confirmed")

    # The same screen at phone size, for an officer checking from anywhere.
    await sign_in(phone, "officer")
    await phone.goto("/console#/cashups")
    await expect(phone.locator("#cash-ups-done tr[data-cash-up]").first).to_be_visible()
    await expect(phone.locator("#cash-up-form")).to_have_count(0)  # officers confirm only
    await screenshot(phone, "console-cash-ups")
    assert_no_page_errors(desktop)
    assert_no_page_errors(second_desk)
    assert_no_page_errors(phone)
