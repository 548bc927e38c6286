"""The ``machipay`` command line."""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Annotated

import typer

from machipay.settings import Settings, get_settings

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
        "  verify the books    machipay verify   (with the same MACHIPAY_DATABASE_URL)\n"
    )
    serve(host=host, port=port, workers=1)


@app.command()
def verify(
    max_findings: Annotated[
        int, typer.Option(help="Stop listing after this many findings.")
    ] = 1000,
) -> None:
    """Recompute every balance, entry sum and hash; exit 1 on any discrepancy."""
    from ledger import verify_ledger
    from machipay.db import create_engine, make_sessionmaker
    from machipay.migrate import assert_migrated

    async def run() -> bool:
        engine = create_engine(_settings())
        try:
            await assert_migrated(engine)
            async with make_sessionmaker(engine)() as session:
                report = await verify_ledger(session, max_findings=max_findings)
        finally:
            await engine.dispose()
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
