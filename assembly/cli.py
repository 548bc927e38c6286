"""The ``machipay`` command line."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import date, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from machipay.db import unit_of_work
from machipay.errors import MachipayError
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


# Commands that never open the database (they talk to a running server over HTTP).
_NO_DATABASE = frozenset({"simulate-topup", "sms"})
# Long-running servers: in production they need a database server of the deployment's own.
_SERVERS = frozenset({"serve", "worker"})


@app.callback()
def _database_for_the_command(ctx: typer.Context) -> None:
    """With no MACHIPAY_DATABASE_URL, start (or join) the embedded PostgreSQL server in
    MACHIPAY_EMBEDDED_PGDATA (default var/pgdata) for the command, and stop it after."""
    command = ctx.invoked_subcommand
    settings = _settings()
    if command is None or command in _NO_DATABASE or settings.database_url is not None:
        return
    if command in _SERVERS and settings.environment == "production":
        typer.echo(
            "error: MACHIPAY_DATABASE_URL is unset. In production machipay needs a PostgreSQL "
            "server of its own; the embedded one (var/pgdata) is for development "
            "(MACHIPAY_ENVIRONMENT=development).",
            err=True,
        )
        raise typer.Exit(2)
    from machipay.embedded_db import embedded_database

    embedded = embedded_database(settings.embedded_pgdata)
    url = embedded.__enter__()
    ctx.call_on_close(lambda: embedded.__exit__(None, None, None))
    # uvicorn re-raises a SIGTERM after its graceful shutdown; the default action would end
    # the process before the server is stopped. Unwind instead, through the close above.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    # In the environment, so that every worker process uvicorn starts finds it too.
    os.environ["MACHIPAY_DATABASE_URL"] = url
    get_settings.cache_clear()


@app.command()
def migrate() -> None:
    """Bring the database schema up to date (safe to run repeatedly)."""
    from machipay import migrate as migrations

    settings = _settings()
    migrations.upgrade(settings.database)
    typer.echo(
        f"database migrated to {migrations.head_revision()} ({_redacted(settings.database)})"
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
    settings.refuse_unsafe_secrets()
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
        "assembly.app:create_app",
        factory=True,
        host=host or settings.host,
        port=port or settings.port,
        workers=workers,
        log_config=None,
        proxy_headers=True,
        forwarded_allow_ips=settings.forwarded_allow_ips,
        timeout_keep_alive=settings.http_keep_alive_seconds,
        server_header=False,
    )


@app.command()
def demo(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8000,
) -> None:
    """Run machipay on the embedded default (PostgreSQL in var/pgdata + in-memory cache),
    seeded with a small ward, and serve it."""
    os.environ.pop("MACHIPAY_REDIS_URL", None)
    # The demo runs on the public development secrets, which only development allows.
    os.environ["MACHIPAY_ENVIRONMENT"] = "development"
    get_settings.cache_clear()
    settings = _settings()
    migrate()
    from assembly.demo import DEMO_PASSWORD, seed_demo

    async def seed() -> None:
        typer.echo(
            "seeding the demo ward (first start only): six weeks of payments, campaigns,"
            " a benefit, settlements and payouts, replayed through the real services"
        )
        async with _database() as sessionmaker:
            ward = await seed_demo(sessionmaker, settings)
        if ward is not None:
            typer.echo(
                f"  {ward.payments:,} payments since {ward.first_day}, {ward.settlements}"
                f" statements, {ward.payout_files} Zengin files, {ward.facts:,} analytics facts"
            )

    asyncio.run(seed())
    base = f"http://{host}:{port}"
    typer.echo(
        "\nmachipay demo is starting\n"
        f"  resident app        {base}/app/        (phone-sized; installable)\n"
        f"  shop dashboard      {base}/merchant\n"
        f"  ward console        {base}/console\n"
        f"  analyst console     {base}/analytics\n"
        f"  API docs (OpenAPI)  {base}/docs\n"
        f"  health              {base}/healthz   readiness {base}/readyz\n"
        f"  metrics             {base}/metrics   (Bearer: an operator's access token)\n"
        f"  database            {_redacted(settings.database)} (in-memory cache)\n"
        f"  logins (password for all: {DEMO_PASSWORD})\n"
        "    resident          070-1000-0000 (and 070-1000-0001 … 070-1000-0299)\n"
        "    shop owner        seed-shop-1 (… seed-shop-40)\n"
        "    officer, approver, analyst, operator (and operator2), desk (and desk2):\n"
        "                      the role is the username\n"
        '  sign in             POST /api/v1/auth/token {"username", "password"}\n'
        "  top up (as the bank) machipay simulate-topup --wallet-id w_... --amount 5000\n"
        "  SMS codes           nothing is texted: each message is printed below (logger\n"
        "                      machipay.sms) and listed in the ward console's SMS tab\n"
        "                      (operator) and at GET /api/v1/ops/sms?to=<phone>\n"
        "  verify the books    machipay verify\n"
    )
    serve(host=host, port=port, workers=1)


@app.command()
def sms(
    to: Annotated[str | None, typer.Option(help="A phone number; unset: every number.")] = None,
) -> None:
    """Print the texts the SMS sink holds (MACHIPAY_SMS_BACKEND=sink), newest first: the
    codes a demo or test resident would have received. Reads the sink in Redis
    (MACHIPAY_REDIS_URL); the demo's in-memory sink lives in the demo's process, which
    prints each text as it sends it."""
    from machipay.cache import make_cache
    from machipay.phone import normalize_phone
    from machipay.sms import SinkSms

    settings = _settings()
    if settings.sms_backend != "sink":
        typer.echo("error: MACHIPAY_SMS_BACKEND is not sink: texts go to the gateway", err=True)
        raise typer.Exit(1)
    if settings.redis_url is None:
        typer.echo(
            "error: no MACHIPAY_REDIS_URL: the in-memory sink lives in the server's process; "
            "read the demo's console, or the ward console's SMS tab (operator)",
            err=True,
        )
        raise typer.Exit(1)

    async def read() -> list[str]:
        cache = make_cache(settings.redis_url)
        try:
            number = normalize_phone(to) if to else None
            found = await SinkSms(cache).messages(number)
        finally:
            await cache.close()
        return [f"{m.sent_at.isoformat()}  {m.to}  {m.text}" for m in found]

    try:
        lines = asyncio.run(read())
    except ValueError as exc:
        typer.echo(f"error: --to is not a Japanese phone number ({exc})", err=True)
        raise typer.Exit(2) from exc
    for line in lines:
        typer.echo(line)
    if not lines:
        typer.echo("no texts in the sink" + (f" for {to}" if to else ""))


@app.command()
def verify(
    max_findings: Annotated[
        int, typer.Option(help="Stop listing after this many findings.")
    ] = 1000,
) -> None:
    """Recompute every balance, entry sum and hash, and reconcile the books; exit 1 on any
    discrepancy."""
    from benefits import verify_benefit_budgets
    from campaigns import verify_campaign_budgets
    from ledger import reconcile, verify_ledger

    async def run() -> bool:
        async with _database() as sessionmaker, sessionmaker() as session:
            report = await verify_ledger(session, max_findings=max_findings)
            report.findings.extend(await verify_campaign_budgets(session))
            report.findings.extend(await verify_benefit_budgets(session))
            books = await reconcile(session)
        typer.echo(report.summary())
        for finding in report.findings:
            typer.echo(f"  {finding}")
        typer.echo(
            "books reconcile: assets = liabilities + income, float covered"
            if books.ok
            else "books do NOT reconcile: " + "; ".join(books.problems)
        )
        # The totals the books prove, on each family's normal side: what the shops'
        # statements, the deposit report and analytics can be held to.
        typer.echo("totals (yen):")
        for family, total in books.families.items():
            typer.echo(f"  {family:<20}{total:>16,}")
        return report.ok and books.ok

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


@app.command("rebuild-dp-cells")
def rebuild_dp_cells() -> None:
    """Rebuild DP mode's cells from every fact with MACHIPAY_ANALYTICS_DP_AMOUNT_CAP: after
    the cap is changed (until then DP queries read the facts, slower, same answers)."""
    from analytics.dp_cells import build_dp_cells

    cap = _settings().analytics_dp_amount_cap
    asyncio.run(_in_unit_of_work(lambda session: build_dp_cells(session, cap)))
    typer.echo(f"DP cells rebuilt with an amount cap of {cap:,} yen")


users_app = typer.Typer(help="Staff and resident user accounts.", no_args_is_help=True)
app.add_typer(users_app, name="users")


@users_app.command("create")
def users_create(
    role: Annotated[
        str,
        typer.Option(
            help="officer, approver, analyst, operator, desk, merchant_owner, merchant_staff"
        ),
    ],
    username: Annotated[str, typer.Option(help="Login name: 3-64 of a-z 0-9 . _ -")],
    password: Annotated[str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True)],
    merchant_id: Annotated[int | None, typer.Option(help="For merchant roles: the shop.")] = None,
    display_name: Annotated[
        str | None,
        typer.Option(help="For desk: the name residents and receipts show (not the login)."),
    ] = None,
    office: Annotated[
        str | None, typer.Option(help="For desk: the ward office, e.g. 北沢まちづくりセンター.")
    ] = None,
) -> None:
    """Create a staff user (residents register through the app)."""
    from identity import create_user
    from machipay.auth import MERCHANT_ROLES, STAFF_ROLES, Role
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
    if chosen is not Role.DESK and (display_name or office):
        raise typer.BadParameter("--display-name and --office go with the desk role only")
    card = _desk_card(display_name, office)

    async def create(session: AsyncSession) -> int:
        user = await create_user(
            session, username=username, password=password, role=chosen, merchant_id=merchant_id
        )
        if chosen is Role.DESK:
            from desk import set_staff_card

            name, where = card
            await set_staff_card(
                session, user.id, display_name=name or f"職員 No.{user.id}", office=where
            )
        return user.id

    try:
        user_id = asyncio.run(_in_unit_of_work(create))
    except MachipayError as exc:
        typer.echo(f"error: {exc.detail}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"created {chosen.value} {username!r} (user id {user_id})")


def _payee_of(held: dict[str, Any]) -> str:
    if held.get("merchant_id") is not None:
        return f"shop {held['merchant_id']}"
    return f"resident {held['resident_id']}"


def _desk_card(display_name: str | None, office: str | None) -> tuple[str | None, str]:
    """A desk member's display name and office, NFKC and bounded like every shown name."""
    from machipay.text import nfkc

    name = nfkc(display_name).strip() if display_name else None
    where = nfkc(office).strip() if office else "区役所"
    for value, flag in ((name, "--display-name"), (where, "--office")):
        if value is not None and not (1 <= len(value) <= 40 and value.isprintable()):
            raise typer.BadParameter("1 to 40 printable characters", param_hint=flag)
    return name, where


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


benefits_app = typer.Typer(help="Ward benefits (給付).", no_args_is_help=True)
app.add_typer(benefits_app, name="benefits")


@benefits_app.command("run")
def benefits_run(
    benefit_id: Annotated[
        int | None, typer.Option("--id", min=1, help="Only this benefit (default: every one due).")
    ] = None,
    batch: Annotated[
        int, typer.Option(min=1, max=500, help="Grants per transaction (at most 500).")
    ] = 200,
    max_batches: Annotated[
        int | None, typer.Option(min=1, help="Stop after this many batches (resume later).")
    ] = None,
) -> None:
    """Grant approved benefits whose start has come, one grant per recipient, in batches.

    Safe to stop at any moment, to re-run (it continues where it stopped) and to run twice
    at once (nobody is granted twice)."""
    from benefits import run_benefits

    async def run() -> tuple[int, int, int]:
        async with _database() as sessionmaker:
            result = await run_benefits(
                sessionmaker, benefit_id=benefit_id, batch=batch, max_batches=max_batches
            )
        return result.benefits, result.granted, result.batches

    benefits, granted, batches = asyncio.run(run())
    typer.echo(f"granted {granted} recipients of {benefits} benefits in {batches} batches")


def _yesterday() -> date:
    from machipay.timeutil import to_tokyo, utcnow

    return to_tokyo(utcnow()).date() - timedelta(days=1)


@app.command()
def settle(
    as_of: Annotated[
        datetime | None,
        typer.Option(
            formats=["%Y-%m-%d"], help="Last business day to settle (default: yesterday)."
        ),
    ] = None,
) -> None:
    """Settle every shop up to its cut-off: payable → payout (minus fees), one statement
    per shop and period, the campaign-funded part drawn from bank:city. Safe to re-run."""
    from settlement import run_settlement

    day = as_of.date() if as_of else _yesterday()
    if day > _yesterday():
        raise typer.BadParameter("a day that is over (yesterday or earlier)", param_hint="--as-of")

    async def run() -> dict[str, object]:
        async with _database() as sessionmaker:
            return (await run_settlement(sessionmaker, _settings(), day)).as_dict()

    result = asyncio.run(run())
    typer.echo(
        f"settled {result['settled']} of {result['merchants']} shops as of {day}:"
        f" ¥{result['payout_total']:,} to pay out, ¥{result['fees']:,} fees,"
        f" ¥{result['campaign_funded']:,} drawn from the ward's campaign money;"
        f" {result['carried_forward']} carried forward"
    )
    failures = result["failures"]
    assert isinstance(failures, list)
    for failure in failures:
        typer.echo(f"  failed: {failure}", err=True)
    if failures:
        raise typer.Exit(1)


@app.command()
def payout(
    out: Annotated[Path, typer.Option(help="Where to write the file.", dir_okay=False)],
    format: Annotated[str, typer.Option(help="Only zengin (全銀協 総合振込).")] = "zengin",
    transfer_date: Annotated[
        datetime | None,
        typer.Option(formats=["%Y-%m-%d"], help="取組日 (default: the next weekday)."),
    ] = None,
    file_id: Annotated[
        int | None, typer.Option(help="Write an earlier file again, byte for byte.")
    ] = None,
) -> None:
    """Write every pending payout into a Zengin 総合振込 file and mark them sent (or, with
    --file-id, write out a file made before)."""
    from machipay.timeutil import to_tokyo, utcnow
    from settlement import (
        HeldPayout,
        PayoutsHeld,
        create_payout_file,
        next_weekday,
        payout_file,
    )
    from settlement.models import PayoutFile

    if format != "zengin":
        raise typer.BadParameter("only zengin is supported", param_hint="--format")
    day = transfer_date.date() if transfer_date else next_weekday(to_tokyo(utcnow()).date())

    async def make(session: AsyncSession) -> tuple[PayoutFile, list[HeldPayout]] | None:
        if file_id is not None:
            return await payout_file(session, file_id), []
        made = await create_payout_file(session, _settings(), transfer_date=day)
        return None if made is None else (made.file, made.held)

    def report_held(held: list[dict[str, Any]]) -> None:
        for h in held:
            typer.echo(
                f"  held: payout {h['payout_id']} ("
                + (
                    f"shop {h['merchant_id']}"
                    if h["merchant_id"]
                    else f"resident {h['resident_id']}"
                )
                + ","
                f" ¥{h['amount']:,}): {h['reason']}",
                err=True,
            )

    # The file is written only after the payouts are committed as sent: a file that
    # exists always matches the database. Held payouts stay pending (exit 0 all the same:
    # the file written must be handed to the bank).
    try:
        result = asyncio.run(_in_unit_of_work(make))
    except PayoutsHeld as exc:
        typer.echo(f"error: {exc.detail}", err=True)
        report_held(exc.extra["held"])
        raise typer.Exit(1) from None
    if result is None:
        typer.echo("no pending payouts: no file written")
        return
    made, held = result
    out.write_bytes(made.content)
    typer.echo(f"wrote {out}: file {made.id}, {made.count} transfers, ¥{made.total:,}")
    report_held([h.as_dict() for h in held])


@app.command("payout-results")
def payout_results(
    file: Annotated[Path, typer.Argument(help="The bank's result, CSV: payout_id,result,reason.")],
    by: Annotated[str, typer.Option("--by", help="Username of the operator importing it (you).")],
) -> None:
    """Import the bank's result as pending: it moves money (paid: Dr payout / Cr
    bank:settlement; failed: owed to the shop again) only when a different operator confirms
    it, signed in: POST /api/v1/payouts/results/{id}/confirm. All or nothing."""
    from sqlalchemy import select

    from identity.models import User
    from machipay.auth import Role
    from machipay.errors import MachipayError, ValidationFailed
    from settlement import import_results

    async def record(session: AsyncSession) -> str:
        # The CLI has no sign-in: it names its operator, whose confirmation then cannot be
        # the second one. Confirming needs a signed-in session, never this command.
        user = (await session.execute(select(User).where(User.username == by))).scalar_one_or_none()
        if user is None or user.role != Role.OPERATOR:
            raise ValidationFailed(f"--by {by!r} is no operator's username.")
        made, summary = await import_results(session, file.read_text("utf-8"), actor_id=user.id)
        return (
            f"import {made.id} pending: would mark paid {summary.paid}"
            f" (¥{summary.paid_amount:,}), failed {summary.failed}"
            f" (¥{summary.failed_amount:,}), unchanged {summary.unchanged}."
            f" Another operator confirms it: POST /api/v1/payouts/results/{made.id}/confirm"
        )

    try:
        typer.echo(asyncio.run(_in_unit_of_work(record)))
    except MachipayError as exc:
        typer.echo(f"error: {exc.detail}", err=True)
        raise typer.Exit(1) from None


report_app = typer.Typer(help="Regulatory and accounting reports.", no_args_is_help=True)
app.add_typer(report_app, name="report")


@report_app.command("deposit")
def report_deposit(
    as_of: Annotated[
        datetime, typer.Option(formats=["%Y-%m-%d"], help="基準日: 03-31 or 09-30, or any day.")
    ],
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """The unused prepaid balance (基準日未使用残高) at the end of a day and the security
    deposit it requires (発行保証金, 資金決済法 Art. 14)."""
    from settlement import deposit_report

    report = asyncio.run(_in_unit_of_work(lambda s: deposit_report(s, as_of.date())))
    if json_output:
        typer.echo(json.dumps(report.as_dict()))
        return
    typer.echo(
        f"unused prepaid balance at the end of {report.as_of}: ¥{report.unused_balance:,}\n"
        f"above the ¥{report.threshold:,} threshold:           ¥{report.above_threshold:,}\n"
        f"security deposit required (half of the balance): ¥{report.deposit_required:,}"
    )


@report_app.command("reconcile")
def report_reconcile(
    bank_balance: Annotated[
        int | None, typer.Option(help="The bank's balance of the trust account, to compare.")
    ] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Check the accounting identity and that bank:settlement covers all residents' money."""
    import ledger

    result = asyncio.run(_in_unit_of_work(lambda s: ledger.reconcile(s, bank_balance=bank_balance)))
    if json_output:
        typer.echo(json.dumps(result.as_dict()))
    else:
        for name, total in result.families.items():
            typer.echo(f"{name:<20} ¥{total:>16,}")
        typer.echo(f"{'assets':<20} ¥{result.assets:>16,}")
        typer.echo(f"{'liabilities+income':<20} ¥{result.liabilities_and_income:>16,}")
        typer.echo(f"{'difference':<20} ¥{result.identity_difference:>16,}")
        typer.echo(f"{'float cover':<20} ¥{result.float_cover:>16,}")
        if result.bank_difference is not None:
            typer.echo(f"{'bank − books':<20} ¥{result.bank_difference:>16,}")
        typer.echo("reconciled" if result.ok else "NOT reconciled: " + "; ".join(result.problems))
    if not result.ok:
        raise typer.Exit(1)


@app.command()
def seed(
    residents: Annotated[int, typer.Option(min=0, max=2_000_000, help="Residents to add.")] = 300,
    merchants: Annotated[int, typer.Option(min=0, max=100_000, help="Shops to add.")] = 30,
    top_up: Annotated[
        int, typer.Option(min=0, help="Yen credited to each new wallet (real funding path).")
    ] = 30_000,
    password: Annotated[
        str, typer.Option(help="The one password of every seeded resident and shop owner.")
    ] = "machipay-seed-2026",  # noqa: S107 - synthetic users, written to the logins file
    batch: Annotated[int, typer.Option(min=1, max=5_000, help="Rows per transaction.")] = 500,
    out: Annotated[
        Path, typer.Option(help="Where to write the logins and QR payloads (JSON).")
    ] = Path("var/seed.json"),
    payments: Annotated[
        int,
        typer.Option(
            min=0,
            max=100_000_000,
            help="Synthetic analytics history: this many payments (facts, not ledger entries).",
        ),
    ] = 0,
    months: Annotated[
        int, typer.Option(min=1, max=60, help="…spread over this many past months.")
    ] = 12,
    campaign_id: Annotated[
        int | None, typer.Option(help="Tag the history's campaign month with this campaign.")
    ] = None,
) -> None:
    """Add a synthetic ward: approved shops on the ward's shopping streets and funded
    residents (phones 070-1xxx-xxxx), in bulk, with a progress bar. Safe to run again:
    it adds more. With --payments N: also N payments of analytics history over --months
    past months (one of them a campaign month with uplift), straight into the analytics
    store and its rollups."""
    from assembly.seeding import SeedPlan, seed_ward

    if payments:
        from analytics.synthetic import HistoryPlan, generate_history

        history = HistoryPlan(payments=payments, months=months, campaign_id=campaign_id)

        async def write_history() -> int:
            with typer.progressbar(length=payments, label="history") as bar:
                async with _database() as sessionmaker:
                    return await generate_history(sessionmaker, _settings(), history, bar.update)

        written = asyncio.run(write_history())
        typer.echo(f"wrote {written} payments of history over {months} months (and rollups)")
        if not residents and not merchants:
            return
    if top_up > _settings().wallet_balance_cap:
        raise typer.BadParameter("above the wallet balance cap", param_hint="--top-up")
    plan = SeedPlan(
        residents=residents, merchants=merchants, top_up=top_up, password=password, batch=batch
    )

    async def run() -> None:
        with typer.progressbar(length=residents + merchants, label="seeding") as bar:
            async with _database() as sessionmaker:
                result = await seed_ward(sessionmaker, _settings(), plan, bar.update)
        result.write(out)

    asyncio.run(run())
    typer.echo(f"seeded {merchants} shops and {residents} residents; logins in {out}")


@app.command()
def worker() -> None:
    """Background work outside the API: apply the outbox to the analytics facts, run the
    benefits whose start has come and seal ledger entries, until interrupted. (Each API
    process consumes and seals too unless MACHIPAY_ANALYTICS_CONSUMER_ENABLED /
    MACHIPAY_SEALER_ENABLED are false; benefits run only here and by `benefits run`.)"""
    from analytics import run_consumer_forever
    from benefits import run_benefits_forever
    from ledger import run_sealer_forever

    settings = _settings()
    settings.refuse_unsafe_secrets()

    async def run() -> None:
        async with _database() as sessionmaker:
            await asyncio.gather(
                run_consumer_forever(sessionmaker, settings),
                run_benefits_forever(
                    sessionmaker,
                    settings.benefit_run_interval_seconds,
                    settings.benefit_batch_size,
                ),
                run_sealer_forever(
                    sessionmaker,
                    settings.sealer_interval_seconds,
                    settings.sealer_max_entries_per_block,
                ),
            )

    typer.echo(
        "machipay worker: analytics consumer, benefit runs and ledger sealer running (Ctrl-C stops)"
    )
    from assembly.app import freeze_startup_objects

    freeze_startup_objects()
    asyncio.run(run())


class FundingNetwork(StrEnum):
    bank = "bank"
    konbini = "konbini"
    atm = "atm"


@app.command("simulate-topup")
def simulate_topup(
    amount: Annotated[int, typer.Option(min=1, help="Yen.")],
    wallet_id: Annotated[
        str | None,
        typer.Option(
            help="The resident's wallet id (w_...). With --via bank or konbini, the wallet "
            "whose reference is looked up in the database (MACHIPAY_DATABASE_URL or the "
            "embedded server)."
        ),
    ] = None,
    via: Annotated[
        FundingNetwork | None,
        typer.Option(
            help="The network to play: bank (a transfer to the wallet's virtual account), "
            "konbini (cash at a till, by konbini number) or atm (by wallet id). "
            "Unset: a webhook by --wallet-id with --source."
        ),
    ] = None,
    virtual_account: Annotated[
        str | None, typer.Option(help="With --via bank: the 7-digit account transferred to.")
    ] = None,
    konbini_number: Annotated[
        str | None, typer.Option(help="With --via konbini: the 12-digit payment number.")
    ] = None,
    source: Annotated[
        str | None, typer.Option(help="bank, atm, konbini, ... (default: the network's name).")
    ] = None,
    url: Annotated[str, typer.Option(help="The machipay server.")] = "http://127.0.0.1:8000",
    event_id: Annotated[str | None, typer.Option(help="Default: a new uuid.")] = None,
) -> None:
    """Play the funding network: send a top-up webhook, signed as the real network signs
    it, to a running server. Each network names the wallet its own way."""
    import uuid

    import httpx

    from machipay.text import nfkc_digits
    from machipay.timeutil import utcnow
    from wallet_api.funding import HEADER, sign

    reference: dict[str, str] = {}
    if via is None or via is FundingNetwork.atm:
        if wallet_id is None:
            _fail("--wallet-id is required" + (" with --via atm" if via else ""))
        reference = {"wallet_id": wallet_id}
    elif via is FundingNetwork.bank:
        account = virtual_account or (_references_of(wallet_id)[0] if wallet_id else None)
        if account is None:
            _fail("--via bank needs --virtual-account or --wallet-id")
        reference = {"virtual_account": nfkc_digits(account)}
    else:
        number = konbini_number or (_references_of(wallet_id)[1] if wallet_id else None)
        if number is None:
            _fail("--via konbini needs --konbini-number or --wallet-id")
        reference = {"konbini_number": nfkc_digits(number)}
    body = json.dumps(
        {
            "event_id": event_id or uuid.uuid4().hex,
            **reference,
            "amount": amount,
            "source": source or (via.value if via else "bank"),
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


def _fail(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)


def _references_of(wallet_id: str) -> tuple[str, str]:
    """The wallet's virtual account and konbini number, drawn now if it never had them.
    simulate-topup otherwise needs no database: this joins the configured one, or the
    embedded server as every other command does."""
    from wallet_api import funding_references, resident_by_wallet_id

    async def look_up(session: AsyncSession) -> tuple[str, str]:
        resident = await resident_by_wallet_id(session, wallet_id)
        refs = await funding_references(session, resident.user_id)
        return refs.virtual_account, refs.konbini_number

    with contextlib.ExitStack() as stack:
        if _settings().database_url is None:
            from machipay.embedded_db import embedded_database

            os.environ["MACHIPAY_DATABASE_URL"] = stack.enter_context(
                embedded_database(_settings().embedded_pgdata)
            )
            get_settings.cache_clear()
        try:
            return asyncio.run(_in_unit_of_work(look_up))
        except MachipayError as exc:
            _fail(exc.detail)


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
    from pydantic import ValidationError

    from machipay.migrate import DatabaseNotMigrated
    from machipay.settings import UnsafeSecrets

    try:
        app()
    except (DatabaseNotMigrated, UnsafeSecrets, ValidationError) as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        sys.exit(130)
