"""Issue 22 items 1–2 in a real Chromium: the public directory (/shops, no account), its map
with no tiles, the app's お店をさがす and キャンペーン screens, "+N pt" on the confirm screen
(what the payment then grants) and ポイントを使わない."""

from __future__ import annotations

import re
import uuid
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.async_api import Page, expect

from tests.web.conftest import (
    LiveServer,
    assert_accessible,
    assert_no_page_errors,
    screenshot,
)
from tests.web.test_resident_app import (
    NEW_PASSWORD,
    Shop,
    new_resident,
    sign_in,
    wallet_of,
    yen_in,
)

SIZES = ["phone", "desktop"]


@pytest.fixture(scope="module")
async def shop(live_server: LiveServer) -> Shop:
    """The demo's first shop (the demo campaign, 30 %, covers it) and its sticker."""
    token = await live_server.token(live_server.ward.shop_username)
    profile = (await live_server.api("GET", "/api/v1/merchant", token=token)).json()
    payload = await live_server.api("GET", "/api/v1/merchant/qr?format=payload", token=token)
    assert payload.status_code == 200, payload.text
    return Shop(token, profile["name"], profile["shopping_street"], payload.text)


def page_for(size: str, phone: Page, desktop: Page) -> Page:
    return phone if size == "phone" else desktop


async def public_shops(live_server: LiveServer, **params: Any) -> list[dict[str, Any]]:
    """Every shop the directory lists for these filters, all pages."""
    found: list[dict[str, Any]] = []
    cursor = None
    for _ in range(20):
        query = dict(params, limit=50, **({"cursor": cursor} if cursor else {}))
        answer = await live_server.api("GET", "/api/v1/shops", params=query)
        assert answer.status_code == 200, answer.text
        found += answer.json()["items"]
        cursor = answer.json()["next_cursor"]
        if cursor is None:
            break
    return found


@pytest.mark.parametrize("size", SIZES)
async def test_the_public_directory_searches_and_shows_campaign_badges(
    size: str, phone: Page, desktop: Page, live_server: LiveServer
) -> None:
    page = page_for(size, phone, desktop)
    listed = await public_shops(live_server)
    assert listed, "the demo ward has shops"
    await page.goto("/")
    await page.click("#landing-shops")
    await expect(page.locator("h1")).to_have_text("お店をさがす")
    # The demo campaign covers every shop at 30 %: it is listed, and every card has its badge.
    await expect(page.locator("#campaign-list .campaign-name").first).to_be_visible()
    await expect(page.locator("#shop-list .shop-card")).to_have_count(min(len(listed), 20))
    first = page.locator("#shop-list .shop-card").first
    await expect(first.locator(".badge-campaign")).to_have_text("30%還元")
    await expect(first.locator(".shop-hours")).to_be_visible()
    await screenshot(page, "shops-public")
    await assert_accessible(page, context="/shops")

    # Search by part of a name typed in full width (NFKC), then a category filter.
    target = listed[-1]
    wide = target["name"][-3:].translate({c: c + 0xFEE0 for c in range(0x21, 0x7F)})
    await page.fill("#shop-q", wide)
    await page.click("#shop-search-submit")
    matching = await public_shops(live_server, q=wide)
    assert target["id"] in [s["id"] for s in matching]
    await expect(page.locator("#shop-list .shop-card")).to_have_count(len(matching))
    await expect(page.locator(f"#shop-list [data-shop-id='{target['id']}']")).to_be_visible()
    await page.fill("#shop-q", "")
    await page.select_option("#shop-category", target["category"])
    same_category = await public_shops(live_server, category=target["category"])
    await expect(page.locator("#shop-list .shop-card")).to_have_count(len(same_category))
    await page.select_option("#shop-district", "okusawa")
    none_there = await public_shops(live_server, category=target["category"], district="okusawa")
    await expect(page.locator("#shop-list .shop-card")).to_have_count(len(none_there))
    if not none_there:
        await expect(page.locator("#shop-count")).to_have_text("条件に合うお店はありません。")
    assert_no_page_errors(page)


@pytest.mark.parametrize("size", SIZES)
async def test_the_map_pins_every_located_shop_with_no_tiles_and_no_request_outside(
    size: str, phone: Page, desktop: Page, live_server: LiveServer
) -> None:
    page = page_for(size, phone, desktop)
    hosts: set[str] = set()
    page.on("request", lambda request: hosts.add(urlsplit(request.url).hostname or ""))
    located = [s for s in await public_shops(live_server) if s["location"]]
    assert located, "the demo seed pins its shops"
    await page.goto("/shops")
    await expect(page.locator("#shop-list .shop-card").first).to_be_visible()
    await page.click("#shop-view-map")
    await expect(page.locator("#shop-map")).to_have_attribute("data-markers", str(len(located)))
    await expect(page.locator("#shop-map .shop-marker")).to_have_count(len(located))
    await expect(page.locator("#shop-map-pane")).to_be_visible()
    await expect(page.locator("#shop-list-pane")).to_be_hidden()
    assert await page.locator("#shop-map .leaflet-tile").count() == 0
    assert await page.locator("#shop-map.no-tiles").count() == 1
    # A marker opens the shop's name, badge and address.
    # (Dispatched: pins of neighbouring shops may overlap, a pointer would hit the top one.)
    await page.locator("#shop-map .shop-marker").first.dispatch_event("click")
    await expect(page.locator(".leaflet-popup .shop-popup")).to_be_visible()
    await expect(page.locator(".leaflet-popup .badge-campaign")).to_have_text("30%還元")
    await screenshot(page, "shops-map-no-tiles")
    assert hosts == {"127.0.0.1"}, hosts
    assert_no_page_errors(page)


async def test_the_policy_allows_the_configured_tile_host_and_no_other() -> None:
    from machipay.security_headers import content_security_policy

    policy = content_security_policy("https://{s}.tiles.example.jp/{z}/{x}/{y}.png")
    img = next(p for p in policy.split("; ") if p.startswith("img-src"))
    assert img == "img-src 'self' data: blob: https://*.tiles.example.jp"
    assert "tiles.example.jp" not in policy.replace(img, "")
    assert content_security_policy("") == content_security_policy()
    assert "img-src 'self' data: blob:;" in content_security_policy("javascript:alert(1)")
    assert "img-src 'self' data: blob:;" in content_security_policy("https://a.jp; script-src *")


@pytest.mark.parametrize("size", SIZES)
async def test_the_apps_shops_and_campaigns_screens_show_my_cap_left(
    size: str, phone: Page, desktop: Page, live_server: LiveServer, shop: Shop
) -> None:
    page = page_for(size, phone, desktop)
    resident = await new_resident(live_server, money=10_000)
    paid = await live_server.api(
        "POST",
        "/api/v1/payments",
        token=resident.token,
        json={"qr_payload": shop.payload, "amount": 2_000},
        headers={"Idempotency-Key": uuid.uuid4().hex},
    )
    assert paid.status_code == 201, paid.text
    earned = paid.json()["rewards"]["resident_points"]
    assert earned == 600

    await sign_in(page, resident.phone, NEW_PASSWORD)
    await page.click("#nav-shops")
    await expect(page.locator("h1")).to_have_text("お店をさがす")
    await expect(page.locator("#shop-list .shop-card").first).to_be_visible()
    await expect(page.locator("#nav-shops")).to_have_attribute("aria-current", "page")
    await screenshot(page, "app-shops")
    await page.click("#shop-view-map")
    await expect(page.locator("#shop-map .shop-marker").first).to_be_attached()
    await screenshot(page, "app-shops-map")

    await page.click("#shop-view-list")
    await page.click("#go-campaigns")
    await expect(page.locator("h1")).to_have_text("キャンペーン")
    card = page.locator(f"#campaign-list [data-campaign-id='{live_server.ward.campaign_id}']")
    # The demo campaign caps residents at 10,000 points a month; 600 are earned.
    await expect(card.locator(".campaign-cap-left")).to_have_text(
        "あなたが今月もらえるのはあと 9,400 pt"
    )
    await expect(card.locator(".badge-campaign")).to_have_text("30%還元")
    await screenshot(page, "app-campaigns")
    await assert_accessible(page, context="#/campaigns")
    await card.locator(".campaign-shops").click()
    await expect(page.locator("#shop-campaign")).to_be_checked()
    await expect(page.locator("#shop-list .shop-card").first).to_be_visible()
    assert_no_page_errors(page)


@pytest.mark.parametrize("size", SIZES)
async def test_the_confirm_screen_shows_the_points_the_payment_then_grants(
    size: str, phone: Page, desktop: Page, live_server: LiveServer, shop: Shop
) -> None:
    page = page_for(size, phone, desktop)
    resident = await new_resident(live_server, money=5_000)
    await sign_in(page, resident.phone, NEW_PASSWORD)
    await page.click("#nav-scan")
    await page.fill("#manual-payload", shop.payload)
    await page.click("#manual-submit")
    await expect(page.locator("#pay-shop-name")).to_have_text(shop.name)
    # Before the amount: the rate and the cap that apply here, for this resident.
    await expect(page.locator("#pay-reward-rate")).to_contain_text("30%還元")
    await expect(page.locator("#pay-reward-cap")).to_have_text("今月あと 10,000 pt まで")
    await page.fill("#pay-amount", "1234")
    await expect(page.locator("#pay-reward-points")).to_have_text("+370 pt")
    await screenshot(page, "app-pay-reward-preview")
    await page.click("#pay-confirm")
    await expect(page.locator("h1")).to_have_text("お支払いが完了しました")
    await expect(page.locator("#receipt-points-earned")).to_have_text("+370 pt")
    assert (await wallet_of(live_server, resident.token))["points"] == 370
    assert_no_page_errors(page)


async def test_keeping_the_points_pays_with_money_only(
    phone: Page, live_server: LiveServer, shop: Shop
) -> None:
    resident = await new_resident(live_server, money=5_000)
    first = await live_server.api(
        "POST",
        "/api/v1/payments",
        token=resident.token,
        json={"qr_payload": shop.payload, "amount": 1_000},
        headers={"Idempotency-Key": uuid.uuid4().hex},
    )
    assert first.status_code == 201 and first.json()["rewards"]["resident_points"] == 300

    await sign_in(phone, resident.phone, NEW_PASSWORD)
    await phone.click("#nav-scan")
    await phone.fill("#manual-payload", shop.payload)
    await phone.click("#manual-submit")
    await phone.fill("#pay-amount", "1000")
    # Points first by default: 300 points pay, 30 % of the 700 yen money part is earned.
    await expect(phone.locator("#pay-preview")).to_contain_text("300 pt")
    await expect(phone.locator("#pay-reward-points")).to_have_text("+210 pt")
    await expect(phone.locator("#pay-keep-hint")).to_contain_text("300 pt は残ります")
    await phone.check("#pay-keep-points")
    await expect(phone.locator("#pay-reward-points")).to_have_text("+300 pt")
    await expect(phone.locator("#pay-preview dd").first).to_have_text("0 pt")
    await screenshot(phone, "app-pay-keep-points")
    await assert_accessible(phone, context="#/pay keep points")
    await phone.click("#pay-confirm")
    await expect(phone.locator("h1")).to_have_text("お支払いが完了しました")
    await expect(phone.locator("#receipt-points-used")).to_have_text("0 pt")
    assert yen_in(await phone.locator("#receipt-money-used").inner_text()) == 1_000
    wallet = await wallet_of(live_server, resident.token)
    assert (wallet["money"], wallet["points"]) == (3_000, 600)
    assert re.fullmatch(r"\+300 pt", await phone.locator("#receipt-points-earned").inner_text())
    assert_no_page_errors(phone)


async def test_a_code_shown_with_the_points_kept_pays_with_money_only(
    phone: Page, live_server: LiveServer, shop: Shop
) -> None:
    resident = await new_resident(live_server, money=5_000)
    first = await live_server.api(
        "POST",
        "/api/v1/payments",
        token=resident.token,
        json={"qr_payload": shop.payload, "amount": 1_000},
        headers={"Idempotency-Key": uuid.uuid4().hex},
    )
    assert first.status_code == 201 and first.json()["rewards"]["resident_points"] == 300

    await sign_in(phone, resident.phone, NEW_PASSWORD)
    await phone.click("#nav-code")
    digits = phone.locator("#otp-digits")
    await expect(digits).to_have_attribute("data-use-points", "true")
    await phone.check("#otp-keep-points")
    # A new code, carrying the choice.
    await expect(digits).to_have_attribute("data-use-points", "false")
    await screenshot(phone, "app-code-keep-points")
    code = str(await digits.get_attribute("data-code"))
    captured = await live_server.api(
        "POST",
        "/api/v1/merchant/cpm-payments",
        token=shop.token,
        json={"code": code, "amount": 500},
        headers={"Idempotency-Key": uuid.uuid4().hex},
    )
    assert captured.status_code == 201, captured.text
    assert captured.json()["paid_with"] == {"points": 0, "money": 500}
    await expect(phone.locator("h1")).to_have_text("お支払いが完了しました", timeout=10_000)
    await expect(phone.locator("#receipt-points-used")).to_have_text("0 pt")
    assert_no_page_errors(phone)
