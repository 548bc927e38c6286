"""The console's benefits screen (給付) in a real Chromium: an officer drafts a benefit for a
CSV list (bad rows shown with why), submits it; a second person, in another browser, sees
the money it commits and approves it; the run's progress and the report follow on the
page; the resident's app announces the points. Checked against the server over HTTP."""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timedelta

from playwright.async_api import FilePayload, Page, expect

from benefits import run_benefits
from tests.web.conftest import LiveServer, assert_no_page_errors, screenshot
from tests.web.test_console import TOKYO, message, second_desktop, sign_in, tokyo_input, yen
from tests.web.test_resident_app import sign_in as app_sign_in

__all__ = ["second_desktop"]  # the fixture, imported for this module's tests


async def test_an_officer_sets_up_a_benefit_and_a_second_person_approves_it(
    desktop: Page, second_desktop: Page, phone: Page, live_server: LiveServer
) -> None:
    officer_token = await live_server.token("officer")
    name = f"子育て応援給付 {uuid.uuid4().hex[:4]}"

    await sign_in(desktop, "officer", "/console#/benefits")
    await desktop.click("#new-benefit")
    await expect(desktop.locator("#benefit-form")).to_be_visible()
    await desktop.fill("#b-name", name)
    await desktop.fill("#b-purpose", "物価高騰対策")
    await desktop.fill("#b-points", "３０００")  # as an IME types it
    await desktop.fill("#b-expiry", "90")
    await desktop.fill("#b-starts", tokyo_input(datetime.now(TOKYO) - timedelta(minutes=5)))
    await desktop.check("input[name='b-mode'][value='rule']")
    await expect(desktop.locator("#b-rule")).to_be_visible()
    await screenshot(desktop, "console-benefit-form")
    await desktop.check("input[name='b-mode'][value='list']")
    await expect(desktop.locator("#b-list-hint")).to_be_visible()
    await desktop.click("#create-benefit")
    await desktop.wait_for_url(re.compile(r".*/console#/benefits/\d+$"))
    benefit_id = int(desktop.url.rsplit("/", 1)[-1])
    await expect(desktop.locator("#benefit-status .badge")).to_have_attribute(
        "data-status", "draft"
    )

    # The list: two residents by phone (one typed full-width), a bad number, nobody's number.
    csv_text = "phone,氏名\n070-1000-0038,区民A\n０７０ー１０００ー００３９,区民B\n12345,誤り\n070-9999-0000,不明\n"
    await desktop.set_input_files(
        "#csv-file",
        files=FilePayload(name="recipients.csv", mimeType="text/csv", buffer=csv_text.encode()),
    )
    await desktop.click("#upload-csv")
    await expect(desktop.locator("#csv-accepted")).to_have_text(
        message("console.benefit.accepted", n="2")
    )
    rows = desktop.locator("#csv-errors tbody tr")
    await expect(rows).to_have_count(2)
    await expect(rows.nth(0).locator("td").first).to_have_text("4")
    await expect(rows.nth(1).locator("td").first).to_have_text("5")
    await expect(desktop.locator("#kpi-recipients")).to_have_text("2")
    await screenshot(desktop, "console-benefit-csv")

    await desktop.click("#submit-benefit")
    await expect(desktop.locator("#benefit-status .badge")).to_have_attribute(
        "data-status", "submitted"
    )
    await expect(desktop.locator("#waiting-approval")).to_be_visible()
    await expect(desktop.locator("#approve-benefit")).to_have_count(0)

    # The approver, in another browser, sees what approving commits, and approves.
    await sign_in(second_desktop, "approver", f"/console#/benefits/{benefit_id}")
    commits = second_desktop.locator("#approve-commits")
    await expect(commits).to_contain_text(await yen(second_desktop, 6000))
    await expect(commits).to_contain_text("3,000 pt × 2")
    await screenshot(second_desktop, "console-benefit-approve")
    await second_desktop.click("#approve-benefit")
    await expect(second_desktop.locator("#benefit-status .badge")).to_have_attribute(
        "data-status", "approved"
    )
    held = (
        await live_server.api("GET", f"/api/v1/benefits/{benefit_id}", token=officer_token)
    ).json()
    assert (held["status"], held["budget"], held["approved_by"] != held["created_by"]) == (
        "approved",
        6000,
        True,
    )

    # The run (as the worker or `machipay benefits run` does it); the open page follows.
    result = await run_benefits(live_server.sessionmaker, benefit_id=benefit_id)
    assert result.granted == 2
    await expect(desktop.locator("#benefit-status .badge")).to_have_attribute("data-status", "done")
    await expect(desktop.locator("#kpi-granted")).to_have_text("2")
    await expect(desktop.locator("#benefit-progress progress")).to_have_attribute("value", "2")
    # Two recipients in at most two districts: fewer than k = 3 each, so the report hides them.
    report = desktop.locator("#benefit-report")
    await expect(report).to_be_visible()
    await expect(report.locator("tbody tr[data-suppressed='true']").first).to_be_visible()
    await screenshot(desktop, "console-benefit-done")

    # The resident's app announces the points.
    await app_sign_in(phone, "070-1000-0038")
    await expect(phone.locator("#benefits-received")).to_contain_text(
        "給付ポイント 3,000 pt が届きました"
    )
    await screenshot(phone, "app-benefit-received")

    await sign_in(phone, "officer", f"/console#/benefits/{benefit_id}")
    await expect(phone.locator("#benefit-report")).to_be_visible()
    await screenshot(phone, "console-benefit-done")
    for page in (desktop, second_desktop, phone):
        assert_no_page_errors(page)
