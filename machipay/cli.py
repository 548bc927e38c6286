"""The ``machipay`` command line."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated, TypeVar

import typer
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from machipay.db import unit_of_work
from machipay.settings import Settings, get_settings

T = TypeVar("T")

app = typer.Typer(
    name="machipay",
    help="machipay: a ward's cashless payment platform (まちペイ).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _settings() -> Settings:
    return get_settings()


@app.command()
def migrate() -> None:
    """Bring the database schema up to date (safe to run repeatedly)."""
    from machipay import migrate as migrations

    settings = _settings()
    migrations.upgrade(settings.database_url)
    typer.echo(
        f"database migrated to {migrations.head_revision()} ({_redacted(settings.database_url)})"
    )


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Interface to bind.")] = None,
    port: Annotated[int | None, typer.Option(help="Port.")] = None,
    workers: Annotated[int | None, typer.Option(help="Worker processes.")] = None,
) -> None:
    """Serve the HTTP API (the database must be migrated)."""
    import uvicorn

    settings = _settings()
    workers = workers or settings.workers
    if workers > 1 and settings.redis_url is None:
        typer.echo(
            "warning: several workers with the in-memory cache: rate limits and sessions "
            "are per worker; set MACHIPAY_REDIS_URL",
            err=True,
        )
    if workers > 1:
        _prepare_multiprocess_metrics()
    uvicorn.run(
        "machipay.app:create_app",
        factory=True,
        host=host or settings.host,
        port=port or settings.port,
        workers=workers,
        log_config=None,
        proxy_headers=True,
        server_header=False,
    )


@app.command()
def demo(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8000,
) -> None:
    """Run machipay on the embedded default (SQLite file + in-memory cache) and serve it."""
    os.environ.pop("MACHIPAY_REDIS_URL", None)
    get_settings.cache_clear()
    settings = _settings()
    if not settings.is_sqlite:
        typer.echo(
            "machipay demo runs on the embedded default (a SQLite file); "
            "unset MACHIPAY_DATABASE_URL or point it at a sqlite file",
            err=True,
        )
        raise typer.Exit(2)
    migrate()
    base = f"http://{host}:{port}"
    typer.echo(
        "\nmachipay demo is starting\n"
        f"  API docs (OpenAPI)  {base}/docs\n"
        f"  health              {base}/healthz   readiness {base}/readyz   metrics {base}/metrics\n"
        f"  database            {_redacted(settings.database_url)} (in-memory cache)\n"
        "  register a resident POST /api/v1/residents, sign in with POST /api/v1/auth/token\n"
        "  top up (as the bank) machipay simulate-topup --wallet-id w_... --amount 5000\n"
        "  verify the books    machipay verify\n"
    )
    serve(host=host, port=port, workers=1)


@app.command()
def verify(
    max_findings: Annotated[
        int, typer.Option(help="Stop listing after this many findings.")
    ] = 1000,
) -> None:
    """Recompute every balance, entry sum and hash; exit 1 on any discrepancy."""
    from campaigns import verify_campaign_budgets
    from ledger import verify_ledger

    async def run() -> bool:
        async with _database() as sessionmaker, sessionmaker() as session:
            report = await verify_ledger(session, max_findings=max_findings)
            report.findings.extend(await verify_campaign_budgets(session))
        typer.echo(report.summary())
        for finding in report.findings:
            typer.echo(f"  {finding}")
        return report.ok

    if not asyncio.run(run()):
        raise typer.Exit(1)


@app.command()
def seal() -> None:
    """Seal committed ledger entries into hash-chained blocks now (the API does it continuously)."""
    from ledger import seal_pending_entries
    from machipay.db import create_engine, make_sessionmaker

    async def run() -> None:
        settings = _settings()
        engine = create_engine(settings)
        try:
            result = await seal_pending_entries(
                make_sessionmaker(engine),
                max_entries_per_block=settings.sealer_max_entries_per_block,
            )
        finally:
            await engine.dispose()
        typer.echo(f"sealed {result.entries} entries into {result.blocks} blocks")

    asyncio.run(run())


users_app = typer.Typer(help="Staff and resident user accounts.", no_args_is_help=True)
app.add_typer(users_app, name="users")


@users_app.command("create")
def users_create(
    role: Annotated[
        str,
        typer.Option(help="officer, approver, analyst, operator, merchant_owner, merchant_staff"),
    ],
    username: Annotated[str, typer.Option(help="Login name: 3-64 of a-z 0-9 . _ -")],
    password: Annotated[str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True)],
    merchant_id: Annotated[int | None, typer.Option(help="For merchant roles: the shop.")] = None,
) -> None:
    """Create a staff user (residents register through the app)."""
    from machipay.auth import MERCHANT_ROLES, STAFF_ROLES, Role, create_user
    from machipay.errors import MachipayError

    try:
        chosen = Role(role)
    except ValueError:
        raise typer.BadParameter(f"unknown role {role!r}", param_hint="--role") from None
    if chosen not in STAFF_ROLES:
        raise typer.BadParameter(
            "residents register through POST /api/v1/residents", param_hint="--role"
        )
    if (chosen in MERCHANT_ROLES) != (merchant_id is not None):
        raise typer.BadParameter("--merchant-id goes with merchant roles, and only with them")

    async def create(session: AsyncSession) -> int:
        user = await create_user(
            session, username=username, password=password, role=chosen, merchant_id=merchant_id
        )
        return user.id

    try:
        user_id = asyncio.run(_in_unit_of_work(create))
    except MachipayError as exc:
        typer.echo(f"error: {exc.detail}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"created {chosen.value} {username!r} (user id {user_id})")


@app.command("expire-points")
def expire_points_command(
    batch: Annotated[int, typer.Option(min=1, max=10_000, help="Lots per transaction.")] = 1000,
) -> None:
    """Expire points lots past their date (Dr resident points / Cr campaign breakage).

    Runs in transactions of ``--batch`` lots until none is left; safe to re-run or to run
    twice at once (a lot is expired once).
    """
    from machipay.timeutil import utcnow
    from wallet_api import expire_points

    async def run() -> int:
        now = utcnow()
        total = 0
        async with _database() as sessionmaker:
            while True:
                async with unit_of_work(sessionmaker) as session:
                    done = await expire_points(session, now=now, limit=batch)
                total += done
                if done < batch:
                    return total

    typer.echo(f"expired {asyncio.run(run())} points lots")


@app.command("grant-deferred")
def grant_deferred(
    batch: Annotated[int, typer.Option(min=1, max=10_000, help="Grants per transaction.")] = 500,
) -> None:
    """Grant the deferred rewards of campaigns whose period is over, then close them.

    Each grant is posted once whatever happens (re-running grants nothing twice). A closed
    campaign's unspent budget goes back to the ward (Cr bank:city).
    """
    from campaigns import campaigns_due, close_if_done, grant_pending_batch
    from machipay.timeutil import utcnow

    async def run() -> tuple[int, int, int, int]:
        now = utcnow()
        granted = points = cashback = closed = 0
        async with _database() as sessionmaker:
            async with sessionmaker() as session:
                due = await campaigns_due(session, now)
            for campaign_id in due:
                while True:
                    async with unit_of_work(sessionmaker) as session:
                        result = await grant_pending_batch(
                            session, campaign_id, now=now, limit=batch
                        )
                    granted += result.granted
                    points += result.points
                    cashback += result.cashback
                    if result.granted < batch:
                        break
                async with unit_of_work(sessionmaker) as session:
                    closed += await close_if_done(session, campaign_id, now=now)
        return granted, points, cashback, closed

    granted, points, cashback, closed = asyncio.run(run())
    typer.echo(
        f"granted {granted} deferred rewards ({points} points, ¥{cashback} cashback);"
        f" closed {closed} campaigns"
    )


@app.command("simulate-topup")
def simulate_topup(
    wallet_id: Annotated[str, typer.Option(help="The resident's wallet id (w_...).")],
    amount: Annotated[int, typer.Option(min=1, help="Yen.")],
    source: Annotated[str, typer.Option(help="bank, atm, konbini, ...")] = "bank",
    url: Annotated[str, typer.Option(help="The machipay server.")] = "http://127.0.0.1:8000",
    event_id: Annotated[str | None, typer.Option(help="Default: a new uuid.")] = None,
) -> None:
    """Play the funding network: send a signed top-up webhook to a running server."""
    import json
    import uuid

    import httpx

    from machipay.timeutil import utcnow
    from wallet_api.funding import HEADER, sign

    body = json.dumps(
        {
            "event_id": event_id or uuid.uuid4().hex,
            "wallet_id": wallet_id,
            "amount": amount,
            "source": source,
            "occurred_at": utcnow().isoformat(),
        }
    ).encode()
    response = httpx.post(
        f"{url.rstrip('/')}/api/v1/funding/webhook",
        content=body,
        headers={
            "Content-Type": "application/json",
            HEADER: sign(_settings().funding_webhook_secret, body),
        },
        timeout=10,
    )
    typer.echo(f"{response.status_code} {response.text}")
    if response.status_code != 200:
        raise typer.Exit(1)


@contextlib.asynccontextmanager
async def _database() -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    from machipay.db import create_engine, make_sessionmaker
    from machipay.migrate import assert_migrated

    engine = create_engine(_settings())
    try:
        await assert_migrated(engine)
        yield make_sessionmaker(engine)
    finally:
        await engine.dispose()


async def _in_unit_of_work(work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    async with _database() as sessionmaker, unit_of_work(sessionmaker) as session:
        return await work(session)


def _prepare_multiprocess_metrics() -> None:
    """Give the workers a shared, empty directory for their Prometheus samples."""
    import shutil
    import tempfile

    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR") or tempfile.mkdtemp(
        prefix="machipay-metrics-"
    )
    shutil.rmtree(directory, ignore_errors=True)  # samples of a previous run would be added up
    os.makedirs(directory, exist_ok=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory


def _redacted(url: str) -> str:
    if "@" not in url:
        return url
    scheme, rest = url.split("://", 1)
    return f"{scheme}://***@{rest.split('@', 1)[1]}"


def main() -> None:
    from machipay.migrate import DatabaseNotMigrated

    try:
        app()
    except DatabaseNotMigrated as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        sys.exit(130)
