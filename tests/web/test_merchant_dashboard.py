"""The shop dashboard (/merchant) in a real Chromium against the live server.

Each scene is arranged over the public API as a resident would do it (pay the shop's
sticker, pay a charge's QR, show a one-time code), and each outcome is checked twice: on
the screen, and in the server's own figures.
"""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from typing import Any

import pytest
from playwright.async_api import Browser, Page, ViewportSize, expect

from machipay.timeutil import to_tokyo, utcnow
from merchant_api import lock_shop_for_settlement
from settlement import settle_period
from tests.web.conftest import (
    SCREENSHOTS,
    LiveServer,
    assert_accessible,
    assert_no_page_errors,
    screenshot,
    watched,
)

TABS = ("today", "charge", "code", "sticker", "statements")
TABLET: ViewportSize = {"width": 820, "height": 1180}


async def snap(page: Page, name: str, size: str) -> None:
    """conftest's screenshot names phone/desktop by width; a tablet gets its own name."""
    if size == "tablet":
        await page.screenshot(path=str(SCREENSHOTS / f"{name}-tablet.png"), full_page=True)
    else:
        await screenshot(page, name)


def amount_in(text: str) -> int:
    """¥12,345 / ￥12,345 / 12件 → the integer a person reads."""
    digits = re.sub(r"\D", "", text)
    assert digits, f"no number in {text!r}"
    return int(digits)


def today() -> str:
    return to_tokyo(utcnow()).date().isoformat()


async def shop_token(live_server: LiveServer, username: str | None = None) -> str:
    return await live_server.token(username or live_server.ward.shop_username)


async def resident_token(live_server: LiveServer) -> str:
    return await live_server.token(live_server.resident_login)


async def day_of(live_server: LiveServer, token: str) -> dict[str, Any]:
    answer = await live_server.api("GET", f"/api/v1/merchant/payments?date={today()}", token=token)
    assert answer.status_code == 200, answer.text
    day: dict[str, Any] = answer.json()
    return day


async def pay_sticker(live_server: LiveServer, shop: str, amount: int) -> dict[str, Any]:
    """A resident scans the shop's sticker and pays ``amount``."""
    payload = await live_server.api("GET", "/api/v1/merchant/qr?format=payload", token=shop)
    assert payload.status_code == 200, payload.text
    paid = await live_server.api(
        "POST",
        "/api/v1/payments",
        token=await resident_token(live_server),
        json={"qr_payload": payload.text, "amount": amount},
        headers={"Idempotency-Key": uuid.uuid4().hex},
    )
    assert paid.status_code == 201, paid.text
    payment: dict[str, Any] = paid.json()
    return payment


async def sign_in(page: Page, username: str, *, path: str = "/merchant") -> None:
    await page.goto(path)
    await page.fill("#username", username)
    await page.fill("#password", "machipay-demo-2026")
    await page.click("button#sign-in")
    await expect(page.locator("#dashboard")).to_be_visible()
    await expect(page.locator("#live-state")).to_have_attribute("data-state", "open")
    await expect(page.locator("#today-loading")).to_be_hidden()


async def expect_figure(page: Page, name: str, value: int) -> None:
    """Wait until the figure ``#fig-<name>`` reads ``value`` (¥ and commas aside).

    Waiting rather than reading once: the figures follow the live stream, and the test
    Redis's pub/sub is shared by every live server on the machine (channels ignore the
    db number), so another suite's shop #1 can briefly show up until the day is re-read.
    """
    await page.wait_for_function(
        "([selector, value]) =>"
        " document.querySelector(selector)?.textContent.replace(/\\D/g, '') === value",
        arg=[f"#fig-{name}", str(value)],
    )


async def test_sign_in_shows_today_and_a_payment_arrives_live(
    desktop: Page, live_server: LiveServer
) -> None:
    shop = await shop_token(live_server)
    profile = (await live_server.api("GET", "/api/v1/merchant", token=shop)).json()
    before = await day_of(live_server, shop)
    assert before["count"] > 0  # the demo ward's history: the list is not empty

    await sign_in(desktop, live_server.ward.shop_username)
    await expect(desktop.locator("#shop-name")).to_have_text(profile["name"])
    await expect(desktop.locator("#shop-status")).to_have_text("営業中")
    if profile["shopping_street"]:
        await expect(desktop.locator("#shop-street")).to_have_text(profile["shopping_street"])
    await expect(desktop.locator("#live-payments > li")).to_have_count(before["count"])
    await expect_figure(desktop, "count", before["count"])
    await expect_figure(desktop, "gross", before["gross"])
    await expect_figure(desktop, "net", before["net"])
    await expect(desktop.locator("#live-state")).to_contain_text("リアルタイム")

    sound = desktop.locator("#sound-toggle")
    await expect(sound).to_have_attribute("aria-pressed", "false")  # browsers block autoplay
    await sound.click()
    await expect(sound).to_have_attribute("aria-pressed", "true")

    paid = await pay_sticker(live_server, shop, 777)

    row = desktop.locator(f'#live-payments li[data-payment-id="{paid["id"]}"]')
    await expect(row).to_be_visible()
    await expect(row).to_have_class(re.compile(r"\bflash\b"))
    await expect(desktop.locator("#live-payments > li").first).to_have_attribute(
        "data-payment-id", paid["id"]
    )
    await expect(row).to_contain_text("777")
    await expect(desktop.locator("#fig-count")).to_have_text(f"{before['count'] + 1}件")
    await expect_figure(desktop, "gross", before["gross"] + 777)
    after = await day_of(live_server, shop)
    assert after["count"] == before["count"] + 1
    assert paid["id"] in {p["id"] for p in after["payments"]}
    # Once the day is fetched again, the row carries the server's split of points and money.
    await expect(row).to_contain_text("ポイント")
    await expect(desktop.locator("#toast")).to_contain_text("お支払いがありました")

    await screenshot(desktop, "merchant-today")
    await assert_accessible(desktop, context="merchant today")
    assert_no_page_errors(desktop)

    await desktop.click("#sign-out")
    await expect(desktop.locator("#sign-in-view")).to_be_visible()
    await desktop.reload()  # signed out for good: the tokens are gone
    await expect(desktop.locator("#sign-in-view")).to_be_visible()


async def test_a_payment_made_while_the_line_was_down_shows_up_on_reconnect(
    phone: Page, live_server: LiveServer
) -> None:
    shop = await shop_token(live_server)
    await sign_in(phone, live_server.ward.shop_username)
    await phone.context.set_offline(True)
    await expect(phone.locator("#live-state")).to_have_attribute("data-state", "reconnecting")
    await expect(phone.locator("#live-state")).to_contain_text("再接続中")
    await expect(phone.locator("#offline-banner")).to_be_visible()
    await screenshot(phone, "merchant-reconnecting")

    paid = await pay_sticker(live_server, shop, 1_234)
    await phone.context.set_offline(False)

    await expect(phone.locator("#live-state")).to_have_attribute("data-state", "open")
    await expect(
        phone.locator(f'#live-payments li[data-payment-id="{paid["id"]}"]')
    ).to_be_visible()
    day = await day_of(live_server, shop)
    await expect(phone.locator("#fig-count")).to_have_text(f"{day['count']}件")
    await expect_figure(phone, "gross", day["gross"])
    assert_no_page_errors(phone)


async def test_sign_in_refusals_are_explained(phone: Page, live_server: LiveServer) -> None:
    await phone.goto("/merchant")
    await phone.click("button#sign-in")
    await expect(phone.locator("#sign-in-error")).to_contain_text("ユーザー名とパスワード")

    await phone.fill("#username", live_server.ward.shop_username)
    await phone.fill("#password", "not-the-password")
    await phone.click("button#sign-in")
    await expect(phone.locator("#sign-in-error")).to_have_text(
        "ユーザー名またはパスワードが違います。"
    )

    await phone.fill("#username", "analyst")  # ward staff, not a shop
    await phone.fill("#password", "machipay-demo-2026")
    await phone.click("button#sign-in")
    await expect(phone.locator("#sign-in-error")).to_contain_text("加盟店用ではありません")
    await expect(phone.locator("#dashboard")).to_be_hidden()
    await screenshot(phone, "merchant-sign-in-refused")
    await assert_accessible(phone, context="merchant sign-in")
    assert_no_page_errors(phone)


async def test_charge_qr_turns_paid_when_the_resident_pays_it(
    phone: Page, live_server: LiveServer
) -> None:
    await sign_in(phone, live_server.ward.shop_username)
    await phone.click("#tab-charge")
    for key in ("1", "2", "00"):  # the on-screen keys of the till
        await phone.click(f'#charge-form .key[data-key="{key}"]')
    await expect(phone.locator("#charge-amount")).to_have_value("1,200")
    await phone.click("#charge-create")

    view = phone.locator("#charge-view")
    await expect(view).to_have_attribute("data-state", "waiting")
    await expect(phone.locator("#charge-qr svg")).to_be_visible()
    assert amount_in(await phone.locator("#charge-amount-shown").inner_text()) == 1200
    await expect(phone.locator("#charge-countdown")).to_contain_text("有効期限まで")
    box = await phone.locator("#charge-qr svg").bounding_box()
    assert box is not None and box["width"] >= 280  # large enough to scan across a counter
    payload = await phone.locator("#charge-qr").get_attribute("data-payload")
    assert payload
    await screenshot(phone, "merchant-charge-waiting")

    resolved = await live_server.api(
        "POST",
        "/api/v1/qr/resolve",
        token=await resident_token(live_server),
        json={"payload": payload},
    )
    assert resolved.status_code == 200, resolved.text
    assert resolved.json()["amount"] == 1200
    assert resolved.json()["charge_id"] == await view.get_attribute("data-charge-id")
    paid = await live_server.api(
        "POST",
        "/api/v1/payments",
        token=await resident_token(live_server),
        json={"qr_payload": payload},
        headers={"Idempotency-Key": uuid.uuid4().hex},
    )
    assert paid.status_code == 201, paid.text

    await expect(view).to_have_attribute("data-state", "paid")
    await expect(view).to_have_attribute("data-payment-id", paid.json()["id"])
    await expect(phone.locator("#charge-paid")).to_contain_text("お支払い完了")
    await expect(phone.locator("#charge-qr")).to_be_hidden()
    await screenshot(phone, "merchant-charge-paid")
    await assert_accessible(phone, context="merchant charge paid")

    # The same payment is in today's list, marked as paid by a charge QR.
    await phone.click("#tab-today")
    row = phone.locator(f'#live-payments li[data-payment-id="{paid.json()["id"]}"]')
    await expect(row).to_contain_text("請求QR")
    assert_no_page_errors(phone)


async def test_an_unpaid_charge_expires_and_a_new_one_can_be_made(
    desktop: Page, live_server: LiveServer
) -> None:
    await desktop.clock.install()
    await sign_in(desktop, live_server.ward.shop_username)
    await desktop.click("#tab-charge")
    await desktop.click("#charge-create")  # no amount yet
    await expect(desktop.locator("#charge-error")).to_contain_text("1円以上")
    await desktop.fill("#charge-amount", "500")
    await desktop.click("#charge-create")
    view = desktop.locator("#charge-view")
    await expect(view).to_have_attribute("data-state", "waiting")
    await expect(desktop.locator("#charge-countdown")).to_contain_text("有効期限まで")

    await desktop.clock.fast_forward("05:01")
    await expect(view).to_have_attribute("data-state", "expired")
    await expect(desktop.locator("#charge-status")).to_contain_text("有効期限が切れました")
    await expect(desktop.locator("#charge-countdown")).to_have_text("")
    await desktop.click("#charge-new")
    await expect(desktop.locator("#charge-form")).to_be_visible()
    await expect(desktop.locator("#charge-amount")).to_be_focused()
    await expect(desktop.locator("#charge-amount")).to_have_value("")
    assert_no_page_errors(desktop)


async def test_one_time_code_is_taken_at_the_till(desktop: Page, live_server: LiveServer) -> None:
    shop = await shop_token(live_server)
    await sign_in(desktop, live_server.ward.shop_username)
    await desktop.click("#tab-code")

    # A code nobody issued: refused, and the message says what to do.
    await desktop.fill("#cpm-code", "98" + "0" * 16)
    await desktop.fill("#cpm-amount", "860")
    await desktop.click("#cpm-submit")
    await expect(desktop.locator("#cpm-error")).to_contain_text("期限切れか、使用済み")
    await expect(desktop.locator("#cpm-code")).to_have_attribute("aria-invalid", "true")
    await screenshot(desktop, "merchant-code-refused")

    issued = await live_server.api(
        "POST", "/api/v1/wallet/one-time-code", token=await resident_token(live_server)
    )
    assert issued.status_code == 201, issued.text
    code = issued.json()["code"]
    await desktop.fill("#cpm-code", code)
    await expect(desktop.locator("#cpm-code")).to_have_value(re.sub(r"(\d{4})(?=\d)", r"\1 ", code))
    await desktop.click("#cpm-submit")

    result = desktop.locator("#cpm-result")
    await expect(result).to_be_visible()
    await expect(result).to_contain_text("お支払いを受け付けました")
    payment_id = await result.get_attribute("data-payment-id")
    assert payment_id
    assert amount_in(await desktop.locator("#cpm-result-amount").inner_text()) == 860
    day = await day_of(live_server, shop)
    (payment,) = [p for p in day["payments"] if p["id"] == payment_id]
    assert payment["amount"] == 860 and payment["method"] == "cpm"
    await screenshot(desktop, "merchant-code-paid")
    await assert_accessible(desktop, context="merchant code paid")

    # A code works once: the same digits again are refused.
    await desktop.click("#cpm-next")
    await desktop.fill("#cpm-code", code)
    await desktop.fill("#cpm-amount", "860")
    await desktop.click("#cpm-submit")
    await expect(desktop.locator("#cpm-error")).to_contain_text("期限切れか、使用済み")
    assert (await day_of(live_server, shop))["count"] == day["count"]
    assert_no_page_errors(desktop)


async def test_part_of_a_payment_is_refunded_from_its_row(
    desktop: Page, live_server: LiveServer
) -> None:
    shop = await shop_token(live_server)
    paid = await pay_sticker(live_server, shop, 2_000)
    await sign_in(desktop, live_server.ward.shop_username)
    before = await day_of(live_server, shop)
    await expect_figure(desktop, "refunded", before["refunded"])

    row = desktop.locator(f'#live-payments li[data-payment-id="{paid["id"]}"]')
    await row.get_by_role("button", name=re.compile("返金")).click()
    dialog = desktop.locator("#refund-dialog")
    await expect(dialog).to_be_visible()
    await expect(desktop.locator("#refund-confirm")).to_contain_text("2,000")
    await desktop.get_by_label("一部返金").check()
    await desktop.fill("#refund-amount", "2500")  # more than was paid
    await desktop.click("#refund-confirm")
    await expect(desktop.locator("#refund-error")).to_contain_text("2,000")
    await desktop.fill("#refund-amount", "500")
    await expect(desktop.locator("#refund-confirm")).to_contain_text("500")
    await screenshot(desktop, "merchant-refund-dialog")
    await assert_accessible(desktop, context="merchant refund dialog")
    await desktop.click("#refund-confirm")
    await expect(dialog).to_be_hidden()

    await expect(row).to_contain_text("返金")
    await expect(row.locator(".badge-warn")).to_contain_text("500")
    await expect(desktop.locator("#toast")).to_contain_text("返金しました")
    after = await day_of(live_server, shop)
    (payment,) = [p for p in after["payments"] if p["id"] == paid["id"]]
    assert payment["refunded_amount"] == 500 and payment["refund_status"] == "partial"
    assert after["refunded"] == before["refunded"] + 500
    await expect(desktop.locator("#fig-refunded")).to_contain_text(f"{after['refunded']:,}")
    await expect(desktop.locator("#fig-net")).to_contain_text(f"{after['net']:,}")

    # The rest can still be refunded; the dialog says how much is left.
    await row.get_by_role("button", name=re.compile("返金")).click()
    await expect(desktop.locator("#refund-summary")).to_contain_text("1,500")
    await desktop.click("#refund-cancel")
    assert_no_page_errors(desktop)


async def settled_shop(live_server: LiveServer) -> str:
    """A demo shop other than the first, with today's sales settled up to now."""
    prefix = live_server.ward.shop_username.rsplit("-", 1)[0]
    for n in range(2, 7):
        username = f"{prefix}-{n}"
        token = await live_server.token(username)
        if (await day_of(live_server, token))["count"]:
            break
    else:
        pytest.fail("no demo shop besides the first has sales")
    profile = (await live_server.api("GET", "/api/v1/merchant", token=token)).json()
    statements = await live_server.api("GET", "/api/v1/merchant/settlements", token=token)
    if not statements.json()["items"]:
        # The operator's run settles days that are over; today's demo sales are settled
        # here as a run after today's cut-off would settle them.
        async with live_server.sessionmaker() as session:
            merchant = await lock_shop_for_settlement(session, profile["id"])
            made = await settle_period(
                session,
                live_server.settings,
                merchant,
                closing=to_tokyo(utcnow()).date() - timedelta(days=1),
                cutoff=utcnow(),
                now=utcnow(),
            )
            await session.commit()
            assert made is not None
    return username


async def test_statements_list_detail_and_csv(desktop: Page, live_server: LiveServer) -> None:
    username = await settled_shop(live_server)
    token = await live_server.token(username)
    (statement,) = (
        await live_server.api("GET", "/api/v1/merchant/settlements", token=token)
    ).json()["items"]

    assert statement["status"] == "settled" and statement["payout"]["status"] == "pending"

    await sign_in(desktop, username)
    await desktop.click("#tab-statements")
    item = desktop.locator(f'#statements li[data-settlement-id="{statement["id"]}"]')
    await expect(item).to_be_visible()
    await expect(item).to_contain_text(f"{statement['net_payout']:,}")
    await expect(item).to_contain_text("振込予定")
    await item.get_by_role("button").click()
    detail = desktop.locator("#statement-detail")
    await expect(detail).to_have_attribute("data-settlement-id", str(statement["id"]))
    await expect(detail.locator("tbody tr")).to_have_count(
        statement["payments"] + statement["refund_count"]
    )
    await screenshot(desktop, "merchant-statements")
    await assert_accessible(desktop, context="merchant statements")

    async with desktop.expect_download() as waiting:
        await desktop.click("#statement-csv")
    csv = await waiting.value
    assert csv.suggested_filename.endswith(f"-{statement['id']}.csv")
    text = (await csv.path()).read_text(encoding="utf-8-sig")
    assert "振込額" in text and str(statement["net_payout"]) in text

    async with desktop.expect_download() as waiting:
        await desktop.click("#day-csv")
    day_csv = await waiting.value
    assert day_csv.suggested_filename == f"machipay-{today()}.csv"
    assert "合計" in (await day_csv.path()).read_text(encoding="utf-8-sig")

    # A settled payment already went to the shop's payout: its refund is refused, and the
    # dialog says why instead of a bare error.
    await desktop.click("#tab-today")
    settled = (await day_of(live_server, token))["payments"][0]["id"]
    first = desktop.locator(f'#live-payments li[data-payment-id="{settled}"]')
    await first.get_by_role("button", name=re.compile("返金")).click()
    await desktop.click("#refund-confirm")
    await expect(desktop.locator("#refund-error")).to_contain_text("精算・振込済み")
    await desktop.click("#refund-cancel")
    day = await day_of(live_server, token)
    assert day["refunded"] == 0
    assert_no_page_errors(desktop)


async def test_sticker_preview_downloads_and_print_page(
    desktop: Page, live_server: LiveServer
) -> None:
    shop = await shop_token(live_server)
    profile = (await live_server.api("GET", "/api/v1/merchant", token=shop)).json()
    payload = (await live_server.api("GET", "/api/v1/merchant/qr?format=payload", token=shop)).text
    await sign_in(desktop, live_server.ward.shop_username)
    await desktop.click("#tab-sticker")
    await expect(desktop.locator("#sticker-qr svg")).to_be_visible()
    assert await desktop.locator("#sticker-qr").get_attribute("data-payload") == payload
    await expect(desktop.locator("#sticker-shop")).to_have_text(profile["name"])

    async with desktop.expect_download() as waiting:
        await desktop.click("#sticker-png")
    png = await waiting.value
    assert png.suggested_filename.endswith(".png")
    assert (await png.path()).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    async with desktop.expect_download() as waiting:
        await desktop.click("#sticker-svg")
    svg = await waiting.value
    assert svg.suggested_filename.endswith(".svg")
    assert b"<svg" in (await svg.path()).read_bytes()

    async with desktop.expect_popup() as opening:
        await desktop.click("#sticker-print")
    sticker = await opening.value
    await expect(sticker.locator("h1")).to_have_text(profile["name"])
    await expect(sticker.locator(".qr svg")).to_be_visible()
    # The blob: page inherits the dashboard's CSP: its style must still apply.
    await expect(sticker.locator(".card")).to_have_css("border-top-width", "2px")
    await sticker.close()
    assert_no_page_errors(desktop)


async def test_every_tab_on_a_phone(phone: Page, live_server: LiveServer) -> None:
    await every_tab(phone, live_server, "phone")


async def test_every_tab_on_a_desktop(desktop: Page, live_server: LiveServer) -> None:
    await every_tab(desktop, live_server, "desktop")


async def test_every_tab_on_a_tablet(browser: Browser, live_server: LiveServer) -> None:
    context = await browser.new_context(
        base_url=live_server.base_url,
        viewport=TABLET,
        device_scale_factor=2,
        has_touch=True,
        locale="ja-JP",
        timezone_id="Asia/Tokyo",
    )
    try:
        await every_tab(await watched(await context.new_page()), live_server, "tablet")
    finally:
        await context.close()


async def every_tab(page: Page, live_server: LiveServer, size: str) -> None:
    """Each tab renders, passes axe, fits the width; tabs work from the keyboard; English."""
    await sign_in(page, live_server.ward.shop_username)
    for tab in TABS:
        await page.click(f"#tab-{tab}")
        await expect(page.locator(f"#tab-{tab}")).to_have_attribute("aria-selected", "true")
        await expect(page.locator(f"#panel-{tab}")).to_be_visible()
        if tab == "sticker":
            await expect(page.locator("#sticker-qr svg")).to_be_visible()
        if tab == "statements":
            await expect(page.locator("#statements-loading")).to_be_hidden()
        await snap(page, f"merchant-tab-{tab}", size)
        await assert_accessible(page, context=f"merchant {tab} ({size})")
        # Nothing spills sideways at this width.
        overflow = await page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, f"{tab}: {overflow}px wider than the screen"

    # Arrow keys move between tabs; the address remembers the tab across a reload.
    await page.focus("#tab-statements")
    await page.keyboard.press("ArrowLeft")
    await expect(page.locator("#tab-sticker")).to_be_focused()
    await expect(page.locator("#panel-sticker")).to_be_visible()
    await page.reload()
    await expect(page.locator("#panel-sticker")).to_be_visible()

    await page.goto("/merchant?lang=en#today")
    await expect(page.locator("#tab-today")).to_have_text("Today")
    await expect(page.locator("#fig-count")).not_to_have_text("–")
    await snap(page, "merchant-today-en", size)
    await assert_accessible(page, context=f"merchant today in English ({size})")
    await page.goto("/merchant?lang=ja")
    assert_no_page_errors(page)


async def test_an_owner_resets_a_forgotten_password_and_their_staffs(
    phone: Page, live_server: LiveServer
) -> None:
    from identity import create_user
    from machipay.auth import Role
    from tests.sms import code_in

    # A shop whose owner gave a phone when applying, opened by two people.
    owner, owner_phone = f"shop-{uuid.uuid4().hex[:8]}", "080-7000-1234"
    applied = await live_server.api(
        "POST",
        "/api/v1/merchants",
        json={
            "name": "再設定商店",
            "name_kana": "サイセッテイ ショウテン",
            "category": "grocery",
            "store_type": "small",
            "postal_code": "155-0031",
            "address": "東京都世田谷区北沢2-1-1",
            "owner_username": owner,
            "owner_password": "owner-passphrase-123",
            "owner_phone": owner_phone,
            "bank": {
                "bank_code": "0001",
                "branch_code": "123",
                "account_type": "ordinary",
                "account_number": "1234567",
                "account_name_kana": "ｻｲｾｯﾃｲ",
            },
        },
    )
    assert applied.status_code == 201, applied.text
    shop_id = applied.json()["id"]
    for approver in ("officer", "operator"):
        approved = await live_server.api(
            "POST",
            f"/api/v1/merchants/{shop_id}/approve",
            token=await live_server.token(approver),
        )
        assert approved.status_code == 200, approved.text
    async with live_server.sessionmaker() as session:
        till = await create_user(
            session,
            username=f"till-{uuid.uuid4().hex[:6]}",
            password="staff-passphrase-123",
            role=Role.MERCHANT_STAFF,
            merchant_id=shop_id,
        )
        await session.commit()

    # パスワードを忘れた方: a code to the owner's phone, then a new password.
    await phone.goto("/merchant")
    await phone.click("#go-forgot")
    await phone.fill("#forgot-username", owner)
    await phone.click("#forgot-send")
    await expect(phone.locator("#forgot-code")).to_be_visible()
    operator = await live_server.token("operator")
    texted = await live_server.api(
        "GET", "/api/v1/ops/sms", params={"to": owner_phone}, token=operator
    )
    code = next(c for m in texted.json() if (c := code_in(m)) is not None)
    await phone.fill("#forgot-code", code)
    await phone.fill("#forgot-password", "owner-new-passphrase-1")
    await screenshot(phone, "merchant-forgot")
    await phone.click("#forgot-set")
    await expect(phone.locator("#toast")).to_contain_text("再設定しました")
    await phone.fill("#password", "owner-new-passphrase-1")
    await phone.click("button#sign-in")
    await expect(phone.locator("#dashboard")).to_be_visible()

    # The staff tab: a new password for the till's login.
    await phone.click("#tab-staff")
    await phone.locator(f"li[data-username='{till.username}'] details summary").click()
    row = phone.locator(f"form[data-staff='{till.username}']")
    await expect(row).to_be_visible()
    await row.locator("input").fill("till-new-passphrase-1")
    await screenshot(phone, "merchant-tab-staff")
    await row.locator("button").click()
    await expect(phone.locator("#toast")).to_contain_text(till.username)
    assert await live_server.token(till.username, "till-new-passphrase-1")
    overflow = await phone.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0
    await assert_accessible(phone, context="merchant staff tab")
    assert_no_page_errors(phone)
