"""The app's チャージ screen (where to send money from) and the dashboard's staff tab, in a
real Chromium against the live server; each scene checked on the screen and over the API."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

from playwright.async_api import Dialog, Page, expect

from tests.web.conftest import (
    LiveServer,
    assert_accessible,
    assert_no_page_errors,
    screenshot,
    watched,
)
from tests.web.test_merchant_dashboard import sign_in as shop_sign_in
from tests.web.test_resident_app import NEW_PASSWORD, new_resident, sign_in, wallet_of
from wallet_api.funding import HEADER, sign


async def test_charge_screen_shows_the_wallets_own_references(
    phone: Page, live_server: LiveServer
) -> None:
    resident = await new_resident(live_server)
    page = await watched(phone)
    await sign_in(page, resident.phone, NEW_PASSWORD)
    await page.click("#go-charge")
    await expect(page.locator("#charge-account-number")).to_be_visible()
    funding = (await live_server.api("GET", "/api/v1/wallet/funding", token=resident.token)).json()
    await expect(page.locator("#charge-account-number")).to_have_text(
        funding["bank"]["account_number"]
    )
    number = funding["konbini_number"]
    await expect(page.locator("#charge-konbini-number")).to_have_text(
        f"{number[:4]} {number[4:8]} {number[8:]}"
    )
    await expect(page.locator("#charge-konbini-qr svg")).to_be_visible()
    await expect(page.locator("#charge-counter-name")).to_have_text(funding["counter"]["name"])
    await expect(page.locator("#charge-bank-name")).to_contain_text(funding["bank"]["bank_name"])
    # The home tab stays marked: チャージ is reached from home.
    await expect(page.locator("#nav-home")).to_have_attribute("aria-current", "page")
    # Nothing is wider than the phone.
    overflow = await page.evaluate(
        "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0
    await screenshot(page, "app-charge")
    await assert_accessible(page, context="charge screen")

    # The copy button puts the account number on the clipboard.
    await page.context.grant_permissions(
        ["clipboard-read", "clipboard-write"], origin=live_server.base_url
    )
    await page.click("#copy-account")
    copied = await page.evaluate("() => navigator.clipboard.readText()")
    assert copied == funding["bank"]["account_number"]

    # A transfer to that account, as the bank sends it, lands in this wallet.
    body = json.dumps(
        {
            "event_id": f"web-{uuid.uuid4().hex}",
            "virtual_account": funding["bank"]["account_number"],
            "amount": 2_400,
            "source": "bank",
            "occurred_at": datetime.now(UTC).isoformat(),
        }
    ).encode()
    credited = await live_server.api(
        "POST",
        "/api/v1/funding/webhook",
        content=body,
        headers={
            HEADER: sign(live_server.settings.funding_webhook_secret, body),
            "Content-Type": "application/json",
        },
    )
    assert credited.json() == {"status": "credited"}, credited.text
    assert (await wallet_of(live_server, resident.token))["money"] == 2_400
    await page.click("#nav-home")
    await expect(page.locator("#balance-money")).to_have_text("￥2,400")
    assert_no_page_errors(page)


async def test_charge_screen_on_a_desktop(desktop: Page, live_server: LiveServer) -> None:
    resident = await new_resident(live_server)
    page = await watched(desktop)
    await sign_in(page, resident.phone, NEW_PASSWORD)
    await page.click("#balance-charge")
    await expect(page.locator("#charge-konbini-qr svg")).to_be_visible()
    await screenshot(page, "app-charge")
    assert_no_page_errors(page)


async def test_owner_manages_staff_in_the_dashboard(
    desktop: Page, phone: Page, live_server: LiveServer
) -> None:
    owner_token = await live_server.token(live_server.ward.shop_username)
    page = await watched(desktop)
    await shop_sign_in(page, live_server.ward.shop_username)
    await page.click("#tab-staff")
    await expect(page.locator("#staff-loading")).to_be_hidden()
    name = f"till-{uuid.uuid4().hex[:6]}"
    await page.fill("#staff-username", name)
    await page.fill("#staff-password", "till-passphrase-2026")
    await page.fill("#staff-limit", "3000")
    await page.click("#staff-add")
    row = page.locator(f'.staff-row[data-username="{name}"]')
    await expect(row).to_contain_text("返金上限 ￥3,000")
    listed = (await live_server.api("GET", "/api/v1/merchant/staff", token=owner_token)).json()
    member = next(m for m in listed["items"] if m["username"] == name)
    assert member["refund_limit"] == 3_000
    await screenshot(page, "merchant-staff")
    await assert_accessible(page, context="staff tab")

    # The owner raises the limit in the row.
    await row.locator("input.staff-limit-input").fill("5000")
    await row.get_by_role("button", name="上限を保存").click()
    await expect(page.locator(f'.staff-row[data-username="{name}"]')).to_contain_text(
        "返金上限 ￥5,000"
    )

    # The staff member signs in on the till's phone: no staff tab for them.
    till = await watched(phone)
    await till.goto("/merchant")
    await till.fill("#username", name)
    await till.fill("#password", "till-passphrase-2026")
    await till.click("button#sign-in")
    await expect(till.locator("#dashboard")).to_be_visible()
    await expect(till.locator("#tab-staff")).to_be_hidden()
    await screenshot(till, "merchant-staff-till")

    # Removed: the till is signed out at once.
    async def accept(dialog: Dialog) -> None:
        await dialog.accept()

    page.on("dialog", accept)
    await (
        page.locator(f'.staff-row[data-username="{name}"]')
        .get_by_role("button", name=f"{name} を削除")
        .click()
    )
    await expect(page.locator(f'.staff-row[data-username="{name}"]')).to_have_count(0)
    listed = (await live_server.api("GET", "/api/v1/merchant/staff", token=owner_token)).json()
    assert name not in [m["username"] for m in listed["items"]]
    await till.click("#tab-today")
    await till.reload()
    await expect(till.locator("#sign-in-view")).to_be_visible()

    # The owner's phone layout with the extra tab.
    owner_phone = await page.context.browser.new_page(  # type: ignore[union-attr]
        base_url=live_server.base_url, viewport={"width": 390, "height": 844}
    )
    await shop_sign_in(owner_phone, live_server.ward.shop_username)
    await owner_phone.click("#tab-staff")
    await expect(owner_phone.locator("#staff-loading")).to_be_hidden()
    await screenshot(owner_phone, "merchant-staff")
    await owner_phone.close()
    assert_no_page_errors(page)
