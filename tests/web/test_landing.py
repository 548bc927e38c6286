"""The landing page and the shells of the four clients are served and accessible."""

from __future__ import annotations

from playwright.async_api import Page

from tests.web.conftest import assert_accessible, assert_no_page_errors, screenshot


async def test_landing_links_to_the_four_clients_in_japanese_then_english(desktop: Page) -> None:
    await desktop.goto("/")
    assert await desktop.get_attribute("html", "lang") == "ja"
    for path in ("/app", "/merchant", "/console", "/analytics"):
        assert await desktop.locator(f'a[href="{path}"]').count() == 1
    await assert_accessible(desktop, context="landing")
    await screenshot(desktop, "landing")
    await desktop.get_by_role("link", name="Switch to English").click()
    await desktop.wait_for_url("**/?lang=en")
    assert await desktop.get_attribute("html", "lang") == "en"
    await desktop.goto("/")  # the choice is remembered by a cookie
    assert await desktop.get_attribute("html", "lang") == "en"
    assert_no_page_errors(desktop)
