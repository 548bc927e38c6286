"""Shops join by themselves (issue 22 item 3) in a real Chromium: the public application
page (validation in Japanese next to each field, the pin on the map, consent), the
applicant's status page, an officer's whole view, approval by two people and refusal with a
reason the applicant reads, and the ward's CSV import with its dry run. Screenshots at phone
and desktop sizes land in artifacts/screenshots/."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

from playwright.async_api import Browser, Page, expect

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
OWNER_PASSWORD = "a-long-enough-password"


def message(key: str, **values: Any) -> str:
    strings: dict[str, dict[str, str]] = {}
    for name in ("common", "apply", "console"):
        strings.update(json.loads((MESSAGES / f"{name}.json").read_text(encoding="utf-8")))
    text = strings[key]["ja"]
    return text.format(**values) if values else text


async def officer_console(page: Page, username: str = "officer") -> None:
    await page.goto("/console#/merchants")
    await page.fill("#username", username)
    await page.fill("#password", DEMO_PASSWORD)
    await page.click("button#sign-in")
    await expect(page.locator("#console-shell")).to_be_visible()


async def fill_application(page: Page, owner: str, shop_name: str) -> None:
    await page.fill("#f-name", shop_name)
    await page.fill("#f-name_kana", "マチノ パンヤ")
    await page.select_option("#f-category", "bakery")
    await page.select_option("#f-store_type", "small")
    await page.select_option("#f-street", index=1)
    await page.fill("#f-phone", "０３－１２３４－５６７８")  # as an IME types it
    await page.fill("#f-opening_hours", "7:00〜18:00 月曜定休")
    await page.fill("#f-postal_code", "155-0031")
    await page.fill("#f-address", "東京都世田谷区北沢2-10-5")
    await page.fill("#f-bank_code", "０００１")
    await page.fill("#f-branch_code", "001")
    await page.fill("#f-account_number", "7654321")
    await page.fill("#f-account_name_kana", "ﾏﾁﾉﾊﾟﾝﾔ")
    await page.fill("#f-owner_username", owner)
    await page.fill("#f-owner_password", OWNER_PASSWORD)
    await page.fill("#f-owner_phone", "090-1234-5678")
    await page.check("#f-consent")


async def check_status(page: Page, owner: str) -> None:
    await page.goto("/merchant/apply/status")
    await page.fill("#username", owner)
    await page.fill("#password", OWNER_PASSWORD)
    await page.click("#status-check")
    await expect(page.locator("#status-view")).to_be_visible()


async def test_a_shop_applies_on_the_page_and_two_people_approve_it(
    phone: Page, desktop: Page, live_server: LiveServer
) -> None:
    owner = f"panya-{uuid.uuid4().hex[:8]}"
    shop_name = f"まちのパン屋 {uuid.uuid4().hex[:4]}"
    await phone.goto("/merchant/apply")
    await expect(phone.locator("#f-category option")).not_to_have_count(1)
    await screenshot(phone, "apply-form")
    await assert_accessible(phone, context="apply form")

    # Nothing filled: each required field says, in Japanese, what it needs.
    await phone.click("#apply-submit")
    await expect(phone.locator("#apply-summary")).to_be_visible()
    await expect(phone.locator("#f-name-error")).to_have_text(message("ap.e.name"))
    await expect(phone.locator("#f-bank_code-error")).to_have_text(message("ap.e.bank_code"))
    await expect(phone.locator("#f-consent-error")).to_have_text(message("ap.e.consent"))
    await expect(phone.locator("#f-name")).to_have_attribute("aria-invalid", "true")
    await screenshot(phone, "apply-form-errors")

    await fill_application(phone, owner, shop_name)
    # A bad bank code and a postal code outside the ward are refused beside their fields.
    await phone.fill("#f-bank_code", "12")
    await phone.fill("#f-postal_code", "100-0001")
    await phone.click("#apply-submit")
    await expect(phone.locator("#f-bank_code-error")).to_have_text(message("ap.e.bank_code"))
    await expect(phone.locator("#f-postal_code-error")).to_have_text(message("ap.e.postal_code"))
    await expect(phone.locator("#f-name-error")).to_be_hidden()
    await phone.fill("#f-bank_code", "０００１")
    await phone.fill("#f-postal_code", "155-0031")

    # The pin: a click on the map fills latitude and longitude; typed values move it.
    await phone.locator("#apply-map").click(position={"x": 120, "y": 100})
    await expect(phone.locator("#f-latitude")).not_to_have_value("")
    await expect(phone.locator(".leaflet-marker-icon")).to_have_count(1)
    await phone.fill("#f-latitude", "35.661234")
    await phone.fill("#f-longitude", "139.668765")
    await phone.locator("#f-longitude").press("Tab")
    await screenshot(phone, "apply-form-filled")
    await phone.click("#apply-submit")
    await expect(phone.locator("#apply-done")).to_be_visible()
    await screenshot(phone, "apply-done")

    # The server holds what the page sent, normalised.
    officer = await live_server.token("officer")
    queue = await live_server.api(
        "GET", "/api/v1/merchants?status=pending&limit=500", token=officer
    )
    merchant_id = next(m["id"] for m in queue.json() if m["name"] == shop_name)
    detail = (
        await live_server.api("GET", f"/api/v1/merchants/{merchant_id}", token=officer)
    ).json()
    assert detail["location"] == {"lat": 35.661234, "lon": 139.668765}
    assert detail["phone"] == "+81312345678"
    assert detail["bank"]["bank_code"] == "0001"
    assert detail["owner_username"] == owner
    assert detail["consented_at"] is not None

    # The applicant's status page: under review.
    await check_status(phone, owner)
    await expect(phone.locator("#status-badge")).to_have_text(message("ap.badge.pending"))
    await screenshot(phone, "apply-status-pending")

    # The officer sees the whole application, bank and owner included, and approves once.
    await officer_console(desktop)
    card = desktop.locator(f"li.application[data-merchant-id='{merchant_id}']")
    await card.locator("summary").click()
    await expect(card.locator(".application-details")).to_contain_text(owner)
    await expect(card.locator(".application-details")).to_contain_text("7654321")
    await expect(card.locator(".application-details")).to_contain_text("35.661234, 139.668765")
    await card.scroll_into_view_if_needed()
    await screenshot(desktop, "console-application-details")
    await card.locator(f"[data-approve='{merchant_id}']").click()
    await expect(card.locator(".second-approval")).to_be_visible()
    await phone.reload()
    await expect(phone.locator("#status-body")).to_have_text(message("ap.st.pending.first"))
    # A second person opens the shop.
    second = await live_server.api(
        "POST",
        f"/api/v1/merchants/{merchant_id}/approve",
        token=await live_server.token("operator"),
    )
    assert second.json()["status"] == "active", second.text
    await phone.reload()
    await expect(phone.locator("#status-badge")).to_have_text(message("ap.badge.active"))
    await expect(phone.locator("#status-dashboard")).to_be_visible()
    await screenshot(phone, "apply-status-approved")
    assert_no_page_errors(phone)
    assert_no_page_errors(desktop)


async def test_an_officer_rejects_an_application_and_the_applicant_reads_why(
    phone: Page, desktop: Page, live_server: LiveServer
) -> None:
    owner = f"sakaya-{uuid.uuid4().hex[:8]}"
    shop_name = f"まちの酒屋 {uuid.uuid4().hex[:4]}"
    # Desktop-size application this time.
    await desktop.goto("/merchant/apply")
    await expect(desktop.locator("#f-category option")).not_to_have_count(1)
    await fill_application(desktop, owner, shop_name)
    await screenshot(desktop, "apply-form-filled")
    await desktop.click("#apply-submit")
    await expect(desktop.locator("#apply-done")).to_be_visible()
    officer = await live_server.token("officer")
    queue = await live_server.api(
        "GET", "/api/v1/merchants?status=pending&limit=500", token=officer
    )
    merchant_id = next(m["id"] for m in queue.json() if m["name"] == shop_name)

    await officer_console(desktop)
    card = desktop.locator(f"li.application[data-merchant-id='{merchant_id}']")
    await card.locator(f"[data-reject='{merchant_id}']").click()
    # A reason is required.
    await card.locator(f"[data-reject-confirm='{merchant_id}']").click()
    await expect(card.locator(".reject-form .field-error")).to_have_text(
        message("console.merchants.reject_required")
    )
    reason = "口座名義が店名と一致しません。通帳の写しを添えて、あらためて申し込んでください。"
    await card.locator("textarea").fill(reason)
    await card.scroll_into_view_if_needed()
    await screenshot(desktop, "console-reject")
    await card.locator(f"[data-reject-confirm='{merchant_id}']").click()
    await expect(card).to_have_count(0)
    rejected = await live_server.api("GET", f"/api/v1/merchants/{merchant_id}", token=officer)
    assert rejected.json()["status"] == "rejected"
    assert rejected.json()["rejection_reason"] == reason
    assert rejected.json()["rejected_by_name"] == "officer"
    await desktop.click("#tab-rejected")
    await expect(
        desktop.locator(f"#shops-table tr[data-merchant-id='{merchant_id}']")
    ).to_be_visible()

    # The applicant reads the reason; the shop cannot take payments.
    await check_status(phone, owner)
    await expect(phone.locator("#status-badge")).to_have_text(message("ap.badge.rejected"))
    await expect(phone.locator("#status-reason")).to_have_text(reason)
    await expect(phone.locator("#status-apply-again")).to_be_visible()
    await screenshot(phone, "apply-status-rejected")
    await assert_accessible(phone, context="status page, rejected")
    # Signed in on the shop dashboard, the owner is pointed to the status page.
    await phone.goto("/merchant")
    await expect(phone.locator("#shop-application-status")).to_be_visible()
    await phone.click("#shop-application-status")
    await expect(phone.locator("#status-reason")).to_have_text(reason)
    shop = await live_server.token(owner, OWNER_PASSWORD)
    charge = await live_server.api(
        "POST", "/api/v1/merchant/charges", token=shop, json={"amount": 500}
    )
    assert charge.status_code == 409, charge.text
    await check_status(desktop, owner)
    await screenshot(desktop, "apply-status-rejected")
    assert_no_page_errors(phone)
    assert_no_page_errors(desktop)


IMPORT_HEADING = (
    "受付番号,店名,店名カナ,業種,店舗区分,商店街ID,郵便番号,住所,ログインID,代表者電話番号,"
    "金融機関コード,支店コード,口座種別,口座番号,口座名義カナ\n"
)


def import_row(ref: str, login: str, name: str, bank_code: str = "0001") -> str:
    return (
        f"{ref},{name},マチノ ハナヤ,florist,small,,154-0004,東京都世田谷区太子堂4-1-1,"
        f"{login},090-5555-0101,{bank_code},123,普通,1234567,ﾏﾁﾉﾊﾅﾔ\n"
    )


async def test_an_officer_imports_the_recruitment_list_after_a_dry_run(
    desktop: Page, phone: Page, browser: Browser, live_server: LiveServer, tmp_path: Path
) -> None:
    tag = uuid.uuid4().hex[:6]
    names = [f"花屋{tag}-{i}" for i in range(3)]
    bad = tmp_path / "recruitment-bad.csv"
    bad.write_bytes(
        (
            IMPORT_HEADING
            + import_row(f"R{tag}-0", f"hana-{tag}-0", names[0])
            + import_row(f"R{tag}-1", f"hana-{tag}-1", names[1], bank_code="12")
            + import_row(f"R{tag}-2", f"hana-{tag}-2", names[2])
        ).encode("cp932")
    )
    await officer_console(desktop)
    await desktop.click("#tab-import")
    await desktop.set_input_files("#import-file", str(bad))
    await desktop.click("#import-dry-run")
    errors = desktop.locator("#import-errors-table tbody tr")
    await expect(errors).to_have_count(1)
    await expect(errors.first).to_contain_text("3")
    await expect(errors.first).to_contain_text("bank_code")
    await expect(errors.first).to_contain_text("金融機関コードは4桁の数字です。")
    await expect(desktop.locator("#import-valid .kpi-value, #import-valid")).to_contain_text("2")
    await expect(desktop.locator("#import-run")).to_be_disabled()
    await screenshot(desktop, "console-import-dry-run")
    officer = await live_server.token("officer")
    queue = await live_server.api(
        "GET", "/api/v1/merchants?status=pending&limit=500", token=officer
    )
    assert not {m["name"] for m in queue.json()} & set(names)  # a dry run writes nothing

    good = tmp_path / "recruitment.csv"
    good.write_bytes(
        (
            IMPORT_HEADING
            + "".join(import_row(f"R{tag}-{i}", f"hana-{tag}-{i}", names[i]) for i in range(3))
        ).encode("cp932")
    )
    await desktop.set_input_files("#import-file", str(good))
    await desktop.click("#import-dry-run")
    await expect(desktop.locator(".import-report .alert-ok")).to_be_visible()
    await expect(desktop.locator("#import-run")).to_be_enabled()
    await desktop.click("#import-run")
    await expect(desktop.locator("#import-created")).to_contain_text("3")
    await screenshot(desktop, "console-import-done")
    queue = await live_server.api(
        "GET", "/api/v1/merchants?status=pending&limit=500", token=officer
    )
    assert set(names) <= {m["name"] for m in queue.json()}
    # Once more: nothing new.
    await desktop.click("#import-dry-run")
    await expect(desktop.locator("#import-already")).to_contain_text("3")

    # An operator (not the importer) gives the batch its first approvals in one go.
    context = await browser.new_context(
        base_url=live_server.base_url, viewport=DESKTOP, locale="ja-JP", timezone_id="Asia/Tokyo"
    )
    operator = await watched(await context.new_page())
    await officer_console(operator, "operator")
    ids = [m["id"] for m in queue.json() if m["name"] in names]
    for merchant_id in ids:
        await operator.check(f"input[data-select='{merchant_id}']")
    await expect(operator.locator("#approve-selected")).to_have_text(
        message("console.merchants.approve_selected", n=3)
    )
    await screenshot(operator, "console-batch-approval")
    await operator.click("#approve-selected")
    for merchant_id in ids:
        card = operator.locator(f"li.application[data-merchant-id='{merchant_id}']")
        await expect(card.locator(".second-approval")).to_be_visible()
    pending = await live_server.api(
        "GET", "/api/v1/merchants?status=pending&limit=500", token=officer
    )
    assert all(m["first_approved_by"] for m in pending.json() if m["id"] in ids)
    assert_no_page_errors(operator)
    await context.close()

    # On a phone the officer's import screen still reads.
    await officer_console(phone)
    await phone.click("#tab-import")
    # A new list (the first one's references are in now, and rows already in are skipped).
    later = tmp_path / "recruitment-later.csv"
    later.write_bytes(
        (
            IMPORT_HEADING + import_row(f"L{tag}-1", f"hana-{tag}-l1", names[1], bank_code="12")
        ).encode("cp932")
    )
    await phone.set_input_files("#import-file", str(later))
    await phone.click("#import-dry-run")
    await expect(phone.locator("#import-errors-table tbody tr")).to_have_count(1)
    await expect(phone.locator("#import-errors-table tbody tr")).to_contain_text("bank_code")
    await screenshot(phone, "console-import-dry-run")
    assert_no_page_errors(desktop)
    assert_no_page_errors(phone)
