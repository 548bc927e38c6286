"""Issue 22 item 4, "What residents were misled by", in a real Chromium: the recipient's
masked name (or "nobody has this number") before 送金する; history rows that open their
receipt; refund lines that name the shop and the points taken back; a stale refusal that
goes when the amount changes; the one-time code as CODE128 beside the QR; districts in
あいうえお order. Screenshots at phone and desktop sizes land in artifacts/screenshots/."""

from __future__ import annotations

import io
import json
import re
import uuid
from pathlib import Path
from typing import Any

import pytest
import zxingcpp
from PIL import Image
from playwright.async_api import Browser, Page, expect

from tests.web.conftest import (
    LiveServer,
    assert_accessible,
    assert_no_page_errors,
    screenshot,
    watched,
)
from tests.web.test_resident_app import (
    NEW_PASSWORD,
    Shop,
    new_context,
    new_phone,
    new_resident,
    sign_in,
    wallet_of,
)

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
async def shop(live_server: LiveServer) -> Shop:
    """The demo ward's first shop (its owner's login), as tests/web/test_resident_app.py has."""
    token = await live_server.token(live_server.ward.shop_username)
    profile = (await live_server.api("GET", "/api/v1/merchant", token=token)).json()
    payload = await live_server.api("GET", "/api/v1/merchant/qr?format=payload", token=token)
    assert payload.status_code == 200, payload.text
    return Shop(token, profile["name"], profile["shopping_street"], payload.text)


async def open_page(browser: Browser, live_server: LiveServer, size: str) -> Page:
    context = await new_context(browser, live_server, size)
    return await watched(await context.new_page())


@pytest.mark.parametrize("size", ["phone", "desktop"])
async def test_the_sender_sees_who_a_transfer_reaches_before_sending(
    browser: Browser, live_server: LiveServer, size: str
) -> None:
    sender = await new_resident(live_server, money=5_000)
    recipient = await new_resident(live_server)  # 「テスト 花子」
    page = await open_page(browser, live_server, size)
    try:
        await sign_in(page, sender.phone, NEW_PASSWORD)
        await page.click("#nav-transfer")
        await expect(page.locator("#transfer-limits")).to_contain_text("5,000")

        # A number nobody uses is said before the confirm step, on the number's own field.
        await page.fill("#transfer-phone", new_phone())
        await page.fill("#transfer-amount", "1200")
        await page.click("#transfer-next")
        await expect(page.locator("#transfer-phone-error")).to_have_text(
            "この番号の利用者は見つかりません"
        )
        await expect(page.locator("#transfer-confirm")).to_have_count(0)
        await screenshot(page, "fix-transfer-unknown")

        # A registered number: its masked name, before 送金する.
        await page.fill("#transfer-phone", recipient.phone)
        await expect(page.locator("#transfer-phone-error")).to_be_hidden()
        await page.click("#transfer-next")
        await expect(page.locator("#transfer-confirm-name")).to_have_text("テ*** 花***")
        await expect(page.locator("#transfer-confirm")).to_contain_text("1,200 を送金する")
        await assert_accessible(page, context=f"transfer confirm ({size})")
        await screenshot(page, "fix-transfer-confirm-name")
        assert (await wallet_of(live_server, sender.token))["money"] == 5_000  # nothing sent yet
        await page.click("#transfer-confirm")
        await expect(page.locator("#transfer-done-title")).to_contain_text("テスト 花子")
        assert (await wallet_of(live_server, recipient.token))["money"] == 1_200
        assert_no_page_errors(page)
    finally:
        await page.context.close()


async def _pay_and_refund(
    live_server: LiveServer,
    shop: Shop,
    token: str,
) -> tuple[dict[str, Any], dict[str, Any]]:
    paid = await live_server.api(
        "POST",
        "/api/v1/payments",
        token=token,
        json={"qr_payload": shop.payload, "amount": 1_000},
        headers={"Idempotency-Key": uuid.uuid4().hex},
    )
    assert paid.status_code == 201, paid.text
    refunded = await live_server.api(
        "POST",
        f"/api/v1/merchant/payments/{paid.json()['id']}/refunds",
        token=shop.token,
        json={"amount": 1_000},
        headers={"Idempotency-Key": uuid.uuid4().hex},
    )
    assert refunded.status_code == 201, refunded.text
    return paid.json(), refunded.json()


@pytest.mark.parametrize("size", ["phone", "desktop"])
async def test_history_rows_open_their_receipt_and_a_refund_names_the_shop(
    browser: Browser,
    live_server: LiveServer,
    shop: Shop,
    size: str,
) -> None:
    resident = await new_resident(live_server, money=3_000)
    payment, refund = await _pay_and_refund(live_server, shop, resident.token)
    earned = payment["rewards"]["resident_points"]
    assert earned > 0, "the demo campaign should reward this payment"
    page = await open_page(browser, live_server, size)
    try:
        await sign_in(page, resident.phone, NEW_PASSWORD)
        await page.click("#nav-history")
        refund_row = page.locator(f'#history-list li[data-id="{refund["id"]}"]')
        await expect(refund_row).to_contain_text(shop.name)
        await expect(refund_row).to_contain_text(
            f"返金時に付与ポイント {earned:,} pt を取り消しました"
        )
        await screenshot(page, "fix-history")

        # The payment's row opens its receipt: transaction number, shop, split, time (JST).
        await page.locator(f'#history-list li[data-id="{payment["id"]}"] a').click()
        await expect(page.locator("#line-id")).to_have_text(payment["id"])
        await expect(page.locator("#line-shop")).to_have_text(shop.name)
        await expect(page.locator("#line-amount")).to_have_text("￥1,000")
        await expect(page.locator("#line-money-used")).to_have_text("￥1,000")
        await expect(page.locator("#line-points-used")).to_have_text("0 pt")
        await expect(page.locator("#line-points-earned")).to_have_text(f"+{earned:,} pt")
        await expect(page.locator("#line-refunded")).to_have_text("￥1,000")
        await expect(page.locator("#nav-history")).to_have_attribute("aria-current", "page")
        when = await page.locator("#line-time").inner_text()
        assert re.search(r"\d{4}年\d{1,2}月\d{1,2}日 \d{2}:\d{2}:\d{2}", when), when
        await assert_accessible(page, context=f"receipt ({size})")
        await screenshot(page, "fix-receipt-payment")

        # Back, then the refund's row: the shop and the points taken back, in words.
        await page.click("#line-back")
        await page.locator(f'#history-list li[data-id="{refund["id"]}"] a').click()
        await expect(page.locator("#line-id")).to_have_text(refund["id"])
        await expect(page.locator("#line-shop")).to_have_text(shop.name)
        await expect(page.locator("#line-points-revoked")).to_have_text(f"−{earned:,} pt")
        await expect(page.locator("#line-revoked-note")).to_contain_text(
            f"返金時に付与ポイント {earned:,} pt を取り消しました"
        )
        await expect(page.locator("#line-payment")).to_have_text(payment["id"])
        await screenshot(page, "fix-receipt-refund")

        # Someone else's transaction number opens nothing.
        other = await new_resident(live_server)
        await page.goto(f"/app/#/tx/{uuid.uuid4().hex[:8]}")
        await expect(page.locator("#line-error")).to_be_visible()
        stolen = await live_server.api(
            "GET", f"/api/v1/wallet/transactions/{payment['id']}", token=other.token
        )
        assert stolen.status_code == 404
        assert_no_page_errors(page)
    finally:
        await page.context.close()


async def test_a_refusal_for_one_amount_goes_when_the_amount_changes(
    phone: Page,
    live_server: LiveServer,
    shop: Shop,
) -> None:
    resident = await new_resident(live_server, money=500)
    await sign_in(phone, resident.phone, NEW_PASSWORD)
    await phone.click("#nav-scan")
    await phone.fill("#manual-payload", shop.payload)
    await phone.click("#manual-submit")
    await phone.fill("#pay-amount", "3000")
    await phone.click("#pay-confirm")
    refusal = phone.locator("#pay-error")
    await expect(refusal).to_have_text("残高が不足しています。チャージしてください。")
    await phone.fill("#pay-amount", "300")
    await expect(refusal).to_be_hidden()
    await screenshot(phone, "fix-pay-after-refusal")
    await phone.click("#pay-confirm")
    await expect(phone.locator("h1")).to_have_text("お支払いが完了しました")
    assert_no_page_errors(phone)


@pytest.mark.parametrize("size", ["phone", "desktop"])
async def test_the_one_time_code_is_also_a_code128_barcode(
    browser: Browser, live_server: LiveServer, size: str
) -> None:
    resident = await new_resident(live_server, money=1_000)
    page = await open_page(browser, live_server, size)
    try:
        await sign_in(page, resident.phone, NEW_PASSWORD)
        await page.click("#nav-code")
        digits = page.locator("#otp-digits")
        await expect(digits).to_have_text(re.compile(r"^\d{6} \d{6} \d{6}$"))
        code = re.sub(r"\D", "", await digits.inner_text())
        barcode = page.locator("#otp-barcode svg")
        await expect(barcode).to_be_visible()
        await expect(barcode).to_have_attribute("data-code", code)
        assert await barcode.locator("rect").count() > 20
        # A 1D reader (zxing-cpp) reads the drawn bars back as the same digits.
        image = Image.open(io.BytesIO(await page.locator("#otp-barcode").screenshot()))
        found = zxingcpp.read_barcodes(image)
        assert [(r.format.name, r.text) for r in found] == [("Code128", code)], found
        await assert_accessible(page, context=f"code ({size})")
        await screenshot(page, "fix-code-barcode")
        assert_no_page_errors(page)
    finally:
        await page.context.close()


async def test_registration_lists_districts_in_aiueo_order(phone: Page) -> None:
    await phone.goto("/app/#/register")
    options = phone.locator("#reg-district option:not([value=''])")
    await expect(options).to_have_count(28)
    names = [n.strip() for n in await options.all_inner_texts()]
    assert names[:3] == ["池尻", "梅丘", "奥沢"], names
    assert names.index("代沢") < names.index("太子堂")
    assert names[-1] == "若林"
    await screenshot(phone, "fix-register-districts")
    assert_no_page_errors(phone)


async def test_the_sticker_names_the_apps_own_button(
    live_server: LiveServer,
    shop: Shop,
) -> None:
    labels = json.loads((ROOT / "web/messages/app.json").read_text(encoding="utf-8"))
    button = labels["app.nav.scan"]["ja"]
    sticker = await live_server.api(
        "GET", "/api/v1/merchant/qr/sticker", token=shop.token, headers={"Accept": "text/html"}
    )
    assert sticker.status_code == 200, sticker.text
    assert f"「{button}」をタップ" in sticker.text
    assert "スキャン" not in sticker.text  # the app has no button of that name
