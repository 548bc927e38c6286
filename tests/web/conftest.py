"""Browser tests: the real app served by uvicorn on loopback, driven by the machine's Chromium.

One server per run, on a scratch PostgreSQL database with Redis (the CI pair), seeded with
a small demo ward (staff logins, shops, funded residents, an active 30 %/5 % campaign,
history). Chromium is ``/usr/bin/chromium`` (Debian's package): never a downloaded browser.
Screenshots land in ``artifacts/screenshots/`` for a person to look at.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from playwright.async_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Page,
    Playwright,
    ViewportSize,
    async_playwright,
)
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from assembly.app import create_app
from assembly.demo import DEMO_PASSWORD, DemoWard, seed_demo
from machipay.db import create_engine, make_sessionmaker
from machipay.settings import Settings
from tests.conftest import (
    IN_CI,
    REDIS_URL,
    create_scratch_postgres,
    drop_scratch_postgres,
    free_port,
    migrated_engine,
)

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
PHONE: ViewportSize = {"width": 390, "height": 844}
DESKTOP: ViewportSize = {"width": 1280, "height": 800}
ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "artifacts" / "screenshots"
AXE = Path(__file__).parent / "vendor" / "axe.min.js"
WEBHOOK_SECRET = "web-test-webhook-secret-0123456789"


def require_chromium() -> str:
    if not Path(CHROMIUM).exists():
        if IN_CI:
            raise RuntimeError(f"{CHROMIUM} is missing: .ci/run installs Debian's chromium")
        pytest.skip(f"{CHROMIUM} not installed (apt-get install -y chromium)")
    return CHROMIUM


@dataclass
class LiveServer:
    base_url: str
    settings: Settings
    ward: DemoWard
    sessionmaker: async_sessionmaker[AsyncSession]

    @property
    def resident_login(self) -> str:
        """The demo resident's phone as a person types it (070-1000-0000)."""
        phone = self.ward.resident_phone
        return f"{phone[:3]}-{phone[3:7]}-{phone[7:]}" if phone.isdigit() else phone

    async def token(self, username: str, password: str = DEMO_PASSWORD) -> str:
        async with httpx.AsyncClient(base_url=self.base_url) as client:
            answer = await client.post(
                "/api/v1/auth/token", json={"username": username, "password": password}
            )
            answer.raise_for_status()
            return str(answer.json()["access_token"])

    async def api(
        self, method: str, path: str, *, token: str | None = None, **kwargs: Any
    ) -> httpx.Response:
        """Call the server's HTTP API directly (arranging a scene, checking an outcome)."""
        headers = dict(kwargs.pop("headers", {}))
        if token:
            headers["Authorization"] = f"Bearer {token}"
        async with httpx.AsyncClient(base_url=self.base_url, timeout=30) as client:
            return await client.request(method, path, headers=headers, **kwargs)


class _ThreadedServer(uvicorn.Server):
    def install_signal_handlers(self) -> None:  # the test process keeps its own handlers
        pass


def _db(url: str) -> int:
    return int(make_url(url).database or 0)


def _redis_db(url: str, db: int) -> str:
    """The test Redis on another db number: the API tests flush theirs between tests."""
    return make_url(url).set(database=str(db)).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
async def live_server() -> AsyncIterator[LiveServer]:
    require_chromium()
    url = await create_scratch_postgres("machipay_web")
    engine = await migrated_engine(url)
    settings = Settings(
        database_url=url,
        # Helpers running browser suites side by side each take their own db number.
        # Redis where the run has one (the in-memory cache serves one process as well).
        redis_url=(
            _redis_db(
                REDIS_URL, int(os.environ.get("MACHIPAY_TEST_WEB_REDIS_DB", _db(REDIS_URL) - 1))
            )
            if REDIS_URL
            else None
        ),
        environment="test",
        sealer_enabled=False,
        funding_webhook_secret=WEBHOOK_SECRET,
        requests_per_ip_per_minute=100_000,
        registrations_per_ip_per_hour=100_000,
        analytics_consumer_enabled=True,
        analytics_min_residents=3,
        # No map tiles: the directory's map draws its markers on a blank background and no
        # request leaves the machine.
        map_tile_url="",
    )
    sessionmaker = make_sessionmaker(engine)
    # No history: 80 payments in the minute before the server starts (today's sales at every
    # shop, one weekday-hour for the analyst), no settlement or payout yet.
    ward = await seed_demo(
        sessionmaker, settings, residents=40, shops=6, days=0, payments_per_day=80
    )
    assert ward is not None
    port = free_port()
    config = uvicorn.Config(
        create_app(settings, configure_logs=False),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="on",
    )
    server = _ThreadedServer(config)
    thread = threading.Thread(target=server.run, name="live-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the live server did not start")
        await asyncio.sleep(0.05)
    try:
        yield LiveServer(f"http://127.0.0.1:{port}", settings, ward, sessionmaker)
    finally:
        server.should_exit = True
        await asyncio.to_thread(thread.join, 15)
        await engine.dispose()
        # Same proof as every other scenario: the books still verify after the browser runs.
        check = create_engine(settings)
        try:
            from tests.conftest import assert_books_verify

            await assert_books_verify(check)
        finally:
            await check.dispose()
            await drop_scratch_postgres(url)


@pytest.fixture(scope="session")
async def playwright() -> AsyncIterator[Playwright]:
    async with async_playwright() as p:
        yield p


@pytest.fixture(scope="session")
async def browser(playwright: Playwright) -> AsyncIterator[Browser]:
    launched = await playwright.chromium.launch(
        executable_path=require_chromium(), args=CHROMIUM_ARGS
    )
    yield launched
    await launched.close()


async def launch_with_camera(playwright: Playwright, video: Path) -> Browser:
    """A Chromium whose camera is a video file (a .y4m of a QR code): scanning in CI."""
    return await playwright.chromium.launch(
        executable_path=require_chromium(),
        args=[
            *CHROMIUM_ARGS,
            "--use-fake-ui-for-media-stream",
            "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-video-capture={video}",
        ],
    )


@pytest.fixture
async def phone_context(browser: Browser, live_server: LiveServer) -> AsyncIterator[BrowserContext]:
    context = await browser.new_context(
        base_url=live_server.base_url,
        viewport=PHONE,
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
        locale="ja-JP",
        timezone_id="Asia/Tokyo",
    )
    yield context
    await context.close()


@pytest.fixture
async def desktop_context(
    browser: Browser, live_server: LiveServer
) -> AsyncIterator[BrowserContext]:
    context = await browser.new_context(
        base_url=live_server.base_url, viewport=DESKTOP, locale="ja-JP", timezone_id="Asia/Tokyo"
    )
    yield context
    await context.close()


@pytest.fixture
async def phone(phone_context: BrowserContext) -> Page:
    return await watched(await phone_context.new_page())


@pytest.fixture
async def desktop(desktop_context: BrowserContext) -> Page:
    return await watched(await desktop_context.new_page())


def is_csp_violation(message: ConsoleMessage) -> bool:
    """Chromium reports what the Content-Security-Policy refused as a console error."""
    return message.type == "error" and "Content Security Policy" in message.text


async def watched(page: Page) -> Page:
    """Fail loudly on a script error in the page (a broken module is otherwise silent) and on
    anything the Content-Security-Policy refused (an inline style or handler, say)."""
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda m: errors.append(m.text) if is_csp_violation(m) else None)
    page.set_default_timeout(15_000)
    setattr(page, "machipay_errors", errors)  # noqa: B010 - read back by assert_no_page_errors
    return page


def assert_no_page_errors(page: Page) -> None:
    errors: list[str] = getattr(page, "machipay_errors", [])
    assert not errors, errors


@pytest.fixture(scope="session", autouse=True)
def _fresh_screenshots() -> Iterator[None]:
    # Under xdist the controller empties the folder once (tests/conftest.py), before any
    # worker writes to it: a worker emptying it would delete another's screenshots.
    if "PYTEST_XDIST_WORKER" not in os.environ:
        empty_screenshots()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    yield


def empty_screenshots() -> None:
    if SCREENSHOTS.exists() and not os.environ.get("MACHIPAY_KEEP_SCREENSHOTS"):
        shutil.rmtree(SCREENSHOTS)


async def screenshot(page: Page, name: str) -> Path:
    """Save a full-page screenshot as artifacts/screenshots/<name>-<width>.png."""
    width = page.viewport_size["width"] if page.viewport_size else 0
    path = SCREENSHOTS / f"{name}-{'phone' if width < 600 else 'desktop'}.png"
    await page.screenshot(path=str(path), full_page=True)
    return path


async def assert_accessible(page: Page, *, context: str = "") -> None:
    """axe-core (vendored) finds no serious or critical violation on the page as it is now."""
    # Evaluated, not added as a <script>: the page's CSP refuses inline scripts, rightly.
    await page.evaluate(AXE.read_text(encoding="utf-8"))
    result = await page.evaluate(
        """async () => {
            const r = await axe.run(document, {resultTypes: ["violations"]});
            return r.violations.filter(v => v.impact === "serious" || v.impact === "critical")
              .map(v => ({id: v.id, impact: v.impact, help: v.help,
                          nodes: v.nodes.slice(0, 3).map(n => n.target.join(" "))}));
        }"""
    )
    assert result == [], f"{context or page.url}: " + json.dumps(result, ensure_ascii=False)
