"""The one-time code (CPM) end to end, both people on their own screens: the resident shows
the code in the app, the shop types it at the till in its dashboard, and the resident's app
turns to the receipt without a reload."""

from __future__ import annotations

import re

from playwright.async_api import BrowserContext, Page, expect

from tests.web.conftest import LiveServer, assert_no_page_errors, screenshot
from tests.web.test_merchant_dashboard import sign_in as shop_signs_in
from tests.web.test_resident_app import NEW_PASSWORD, new_resident, wallet_of
from tests.web.test_resident_app import sign_in as resident_signs_in


async def test_a_code_shown_in_the_app_is_taken_at_the_shops_till(
    phone: Page, desktop_context: BrowserContext, live_server: LiveServer
) -> None:
    resident = await new_resident(live_server, money=8_000)
    await resident_signs_in(phone, resident.phone, NEW_PASSWORD)
    await phone.click("#nav-code")
    digits = phone.locator("#otp-digits")
    await expect(digits).to_have_text(re.compile(r"^98\d{4} \d{6} \d{6}$"))
    code = re.sub(r"\D", "", await digits.inner_text())

    till = await desktop_context.new_page()
    await shop_signs_in(till, live_server.ward.shop_username)
    await till.click("#tab-code")
    await till.fill("#cpm-code", code)  # as read off the resident's phone
    await till.fill("#cpm-amount", "2480")
    await till.click("#cpm-submit")
    result = till.locator("#cpm-result")
    await expect(result).to_contain_text("お支払いを受け付けました")
    await expect(result).to_have_attribute("data-payment-id", re.compile(r"\S"))
    payment_id = await result.get_attribute("data-payment-id")
    assert payment_id

    # The resident's app, untouched, now shows the receipt of that very payment.
    await expect(phone.locator("h1")).to_have_text("お支払いが完了しました", timeout=10_000)
    await expect(phone.locator("#receipt-id")).to_have_text(payment_id)
    await expect(phone.locator("#receipt-amount")).to_contain_text("2,480")
    # …and the shop's live list has it too.
    await expect(till.locator(f'#live-payments li[data-payment-id="{payment_id}"]')).to_have_count(
        1
    )
    assert (await wallet_of(live_server, resident.token))["money"] == 8_000 - 2_480
    await screenshot(phone, "flow-code-receipt")
    await screenshot(till, "flow-code-till")
    assert_no_page_errors(phone)
    assert_no_page_errors(till)
