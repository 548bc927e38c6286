"""Ledger throughput, measured against pgbench on the same PostgreSQL server.

``python -m loadtest.ledger_bench`` answers one question: how many committed two-leg
transfers per second does ``ledger.post_entry`` sustain here, and how does that compare
with what this server does for a classic small write transaction? pgbench's tpcb-like
script (three UPDATEs, a SELECT and an INSERT in one transaction, from a C client) is the
reference: it prices the machine's CPU, disk and commit fsync with no application code in
the way, so ``transfers/s ÷ pgbench tps`` says how much of the database's capacity the
ledger (its SQL function and triggers, SQLAlchemy, asyncpg, Python) turns into transfers.

Both loads use the same duration and, unless ``--pgbench-clients`` says otherwise, the same
client count; they run one after the other (never together: they would fight over the same
cores), each in its own scratch database. Every
transfer is a real ``post_entry`` call in its own committed transaction: two distinct
random funded residents, a random ¥1..¥500, a fresh idempotency key. The ledger database
must pass ``verify_ledger`` afterwards; both scratch databases are dropped even on failure.

On a small machine the Python client shares the cores with the server (pgbench's C client
barely registers), so the table also shows the client's CPU per transfer: it is most of
the gap between the two figures.

Group commit is bounded by the transfers it is offered at once: with 16 clients in two
processes, a batch holds every client of its process, and the next cannot form until they
are answered. So its row is measured at the concurrency the API serves with
(``--clients 96``: two workers admitting 48 payments each) against pgbench at its own 16
(``--pgbench-clients 16``; at scale 10, more pgbench clients only queue on ten branch rows).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing as mp
import os
import queue
import random
import re
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import uvloop
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

import ledger
from machipay.db import create_engine, make_sessionmaker
from machipay.migrate import upgrade
from machipay.settings import Settings

DEFAULT_URL = "postgresql://root@127.0.0.1:5432/postgres"
FUNDING_YEN = 1_000_000
FUNDING_BATCH = 2_000  # funding entries per ledger_post_transfers call
HARD_CAP = 5_000_000  # transfers in all, so a run stops even if the clock never does
PGBENCH_SCALE = 10
TPS_LINE = re.compile(r"^tps = ([0-9.]+) \(without initial connection time\)", re.MULTILINE)


def account_code(i: int) -> str:
    return ledger.resident_money(f"bench{i}")


def database_url(base: str, database: str, driver: str = "postgresql+asyncpg") -> str:
    url = make_url(base).set(drivername=driver, database=database)
    return url.render_as_string(hide_password=False)


async def admin_execute(base: str, sql: str) -> None:
    """Run one statement on the URL's own database (CREATE/DROP DATABASE, CHECKPOINT)."""
    conn = await asyncpg.connect(
        database_url(base, make_url(base).database or "postgres", "postgresql")
    )
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def seed_ledger(url: str, accounts: int) -> None:
    """Open the bench accounts and fund each with FUNDING_YEN by a two-leg entry of its own.

    An entry per account, as a ledger of that many residents has, and not one entry of 63
    credits per 63 accounts: with 160 entries ``ledger_entries`` is a few pages when it is
    analysed, every bench connection plans the foreign-key check of its postings
    (``ledger_postings.entry_id``) as a scan of it and keeps that plan while the table grows,
    and the run measures ever longer scans (loadtest/pgbench_ledger_post.sql, same trap)."""
    engine = create_engine(Settings(database_url=url))
    try:
        codes = [account_code(i) for i in range(accounts)]
        async with make_sessionmaker(engine)() as session:
            await ledger.open_accounts(session, codes)
            for start in range(0, accounts, FUNDING_BATCH):
                await ledger.post_transfers(
                    session,
                    [
                        ledger.Transfer(
                            f"bench-funding-{n}", ledger.BANK_SETTLEMENT, code, FUNDING_YEN
                        )
                        for n, code in enumerate(codes[start : start + FUNDING_BATCH], start)
                    ],
                    kind="topup",
                )
            await session.commit()
        async with engine.connect() as conn:
            autocommit = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await autocommit.execute(text("VACUUM ANALYZE"))  # as pgbench -i does for its tables
    finally:
        await engine.dispose()


def run_pgbench(base: str, database: str, clients: int, seconds: int) -> float:
    """``pgbench -i -s 10`` then a tpcb-like run; returns tps without connection time."""
    url = make_url(base)
    conn = ["-h", url.host or "127.0.0.1", "-p", str(url.port or 5432)]
    conn += ["-U", url.username or "postgres", database]
    env = {**os.environ, **({"PGPASSWORD": str(url.password)} if url.password else {})}
    runs = [
        ["pgbench", "-i", "-q", "-s", str(PGBENCH_SCALE), *conn],
        ["pgbench", "-c", str(clients), "-j", str(min(2, clients)), "-T", str(seconds), *conn],
    ]
    for command in runs:
        done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(command[:2])} failed:\n{done.stderr}")
    match = TPS_LINE.search(done.stdout)
    if match is None:
        raise RuntimeError(f"no tps line in pgbench output:\n{done.stdout}")
    return float(match.group(1))


@dataclass
class Stats:
    ok: int = 0
    insufficient: int = 0
    errors: int = 0
    elapsed: float = 0.0
    cpu: float = 0.0  # client CPU seconds over the timed window, all processes
    latencies: list[float] = field(default_factory=list)  # seconds, committed transfers
    error_samples: list[str] = field(default_factory=list)
    batches: int = 0  # group commit: round trips (and commits) the transfers shared
    batch_fallbacks: int = 0  # group commit: batches posted again one by one

    @property
    def attempts(self) -> int:
        return self.ok + self.insufficient + self.errors

    def merge(self, other: Stats) -> None:
        self.ok += other.ok
        self.insufficient += other.insufficient
        self.errors += other.errors
        self.elapsed = max(self.elapsed, other.elapsed)
        self.cpu += other.cpu
        self.latencies += other.latencies
        self.batches += other.batches
        self.batch_fallbacks += other.batch_fallbacks
        self.error_samples += other.error_samples[: 5 - len(self.error_samples)]


@dataclass(frozen=True)
class Plan:
    """What one load process does (picklable: it crosses the spawn boundary)."""

    url: str
    clients: int
    seconds: float
    client: str
    loop: str
    accounts: int
    seed: int
    cap: int  # transfers per worker
    flushers: int = 4  # group commit: batches in flight per process
    max_batch: int = 32  # group commit: entries per batch at most


async def transfer(
    session: AsyncSession | ledger.GroupCommitter,
    rng: random.Random,
    codes: list[str],
    stats: Stats,
) -> None:
    payer, payee = rng.sample(codes, 2)
    amount = rng.randint(1, 500)
    started = time.perf_counter()
    try:
        if isinstance(session, ledger.GroupCommitter):
            # The same draft post_entry makes, handed to the process's group committer:
            # answered after the batch holding it committed.
            await session.post(
                ledger.draft_entry(
                    idempotency_key=uuid.uuid4().hex,
                    kind="p2p",
                    legs=[ledger.debit(payer, amount), ledger.credit(payee, amount)],
                )
            )
        else:
            await ledger.post_entry(
                session,
                idempotency_key=uuid.uuid4().hex,
                kind="p2p",
                legs=[ledger.debit(payer, amount), ledger.credit(payee, amount)],
            )
            await session.commit()
    except ledger.InsufficientFunds:
        if not isinstance(session, ledger.GroupCommitter):
            await session.rollback()
        stats.insufficient += 1
    except Exception as exc:
        if not isinstance(session, ledger.GroupCommitter):
            with contextlib.suppress(Exception):
                await session.rollback()
        stats.errors += 1
        if len(stats.error_samples) < 5:
            stats.error_samples.append(repr(exc)[:300])
    else:
        stats.ok += 1
        stats.latencies.append(time.perf_counter() - started)


async def group_worker(
    committer: ledger.GroupCommitter, plan: Plan, n: int, deadline: float
) -> Stats:
    """Transfers until the deadline, each through the process's group committer."""
    rng, stats = random.Random(plan.seed + n), Stats()
    codes = [account_code(i) for i in range(plan.accounts)]
    while time.perf_counter() < deadline and stats.attempts < plan.cap:
        await transfer(committer, rng, codes, stats)
    return stats


async def drive_grouped(plan: Plan, barrier: Any) -> Stats:
    """Group commit: the process's clients share ``plan.flushers`` connections."""
    engine = create_engine(
        Settings(database_url=plan.url), pool_size=plan.flushers + 1, max_overflow=0
    )
    try:
        async with engine.connect() as conn:  # connected before timing
            await conn.execute(text("SELECT 1"))
        committer = ledger.GroupCommitter(
            make_sessionmaker(engine), flushers=plan.flushers, max_batch=plan.max_batch
        )
        await asyncio.to_thread(barrier.wait, 120)
        started, cpu = time.perf_counter(), time.process_time()
        runs = [
            group_worker(committer, plan, n, started + plan.seconds) for n in range(plan.clients)
        ]
        total = Stats()
        for stats in await asyncio.gather(*runs):
            total.merge(stats)
        total.elapsed = time.perf_counter() - started
        total.cpu = time.process_time() - cpu
        await committer.close()
        total.batches = committer.stats.batches
        total.batch_fallbacks = committer.stats.fallbacks
        return total
    finally:
        await engine.dispose()


async def worker(
    engine: AsyncEngine, conn: AsyncConnection | None, plan: Plan, n: int, deadline: float
) -> Stats:
    """Transfers until the deadline: on a session bound to a held connection, or (no
    connection: the app's way) on a fresh session per transfer from the engine's pool."""
    rng, stats = random.Random(plan.seed + n), Stats()
    codes = [account_code(i) for i in range(plan.accounts)]
    held = AsyncSession(bind=conn, expire_on_commit=False, autoflush=False) if conn else None
    sessionmaker = make_sessionmaker(engine)
    while time.perf_counter() < deadline and stats.attempts < plan.cap:
        if held is not None:
            await transfer(held, rng, codes, stats)
        else:
            async with sessionmaker() as session:
                await transfer(session, rng, codes, stats)
    if held is not None:
        await held.close()
    return stats


async def drive(plan: Plan, barrier: Any) -> Stats:
    if plan.client == "group":
        return await drive_grouped(plan, barrier)
    engine = create_engine(Settings(database_url=plan.url), pool_size=plan.clients, max_overflow=0)
    conns = [await engine.connect() for _ in range(plan.clients)]  # all connected before timing
    try:
        for conn in conns:
            if plan.client == "session":
                await conn.close()  # back to the pool, where each transfer's session finds it
            elif plan.client == "autocommit":  # the ledger_post statement is the transaction
                await conn.execution_options(isolation_level="AUTOCOMMIT")
        held = [None if plan.client == "session" else conn for conn in conns]
        await asyncio.to_thread(barrier.wait, 120)  # line up with the other processes
        started, cpu = time.perf_counter(), time.process_time()
        runs = [
            worker(engine, conn, plan, n, started + plan.seconds) for n, conn in enumerate(held)
        ]
        total = Stats()
        for stats in await asyncio.gather(*runs):
            total.merge(stats)
        total.elapsed = time.perf_counter() - started
        total.cpu = time.process_time() - cpu
        return total
    finally:
        for conn in conns:
            await conn.close()
        await engine.dispose()


def process_main(plan: Plan, barrier: Any, results: Any) -> None:
    run = uvloop.run if plan.loop == "uvloop" else asyncio.run
    results.put(run(drive(plan, barrier)))


def run_ledger_load(url: str, ns: argparse.Namespace) -> Stats:
    """CLIENTS workers split over --processes spawned processes, each with its own loop."""
    ctx = mp.get_context("spawn")
    shares = [
        ns.clients // ns.processes + (i < ns.clients % ns.processes) for i in range(ns.processes)
    ]
    shares = [share for share in shares if share]
    barrier, results = ctx.Barrier(len(shares)), ctx.Queue()
    cap = -(-HARD_CAP // ns.clients)
    plans = [
        Plan(
            url,
            share,
            ns.seconds,
            ns.client,
            ns.loop,
            ns.accounts,
            ns.seed + 1000 * n,
            cap,
            ns.flushers,
            ns.max_batch,
        )
        for n, share in enumerate(shares)
    ]
    procs = [ctx.Process(target=process_main, args=(plan, barrier, results)) for plan in plans]
    total, received = Stats(), 0
    try:
        for proc in procs:
            proc.start()
        while received < len(procs):
            try:
                total.merge(results.get(timeout=1.0))
                received += 1
            except queue.Empty:
                if any(proc.exitcode not in (None, 0) for proc in procs):
                    raise RuntimeError("a ledger load process failed (traceback above)") from None
        for proc in procs:
            proc.join()
    finally:
        for proc in procs:
            if proc.is_alive():
                proc.terminate()
    return total


async def verify(url: str) -> ledger.VerifyReport:
    engine = create_engine(Settings(database_url=url))
    try:
        async with make_sessionmaker(engine)() as session:
            return await ledger.verify_ledger(session)
    finally:
        await engine.dispose()


def percentile_ms(ordered: list[float], p: float) -> float:
    if not ordered:
        return float("nan")
    return 1000 * ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def summarize(ns: argparse.Namespace, load: Stats, tps: float) -> dict[str, Any]:
    lat = sorted(load.latencies)
    rate = load.ok / load.elapsed if load.elapsed else 0.0
    return {
        "transfers_per_s": round(rate, 1),
        "p50_ms": round(percentile_ms(lat, 50), 2),
        "p95_ms": round(percentile_ms(lat, 95), 2),
        "p99_ms": round(percentile_ms(lat, 99), 2),
        "transfers": load.ok,
        "insufficient_funds": load.insufficient,
        "errors": load.errors,
        "pgbench_tps": round(tps, 1),
        "pgbench_clients": ns.pgbench_clients,
        "ratio": round(rate / tps, 3) if tps else None,
        "client_cpu_ms_per_transfer": round(1000 * load.cpu / load.ok, 3) if load.ok else None,
        "clients": ns.clients,
        "processes": ns.processes,
        "client": ns.client,
        "loop": ns.loop,
        "duration_s": round(load.elapsed, 2),
        "accounts": ns.accounts,
        "error_samples": load.error_samples,
        "batches": load.batches,
        "mean_batch": round(load.ok / load.batches, 2) if load.batches else None,
        "batch_fallbacks": load.batch_fallbacks,
    }


def print_table(s: dict[str, Any]) -> None:
    rows = [
        ("transfers/s", f"{s['transfers_per_s']:,.1f}"),
        ("latency p50/p95/p99", f"{s['p50_ms']} / {s['p95_ms']} / {s['p99_ms']} ms"),
        ("errors (insufficient / other)", f"{s['insufficient_funds']} / {s['errors']}"),
        ("pgbench tps (tpcb-like)", f"{s['pgbench_tps']:,.1f} ({s['pgbench_clients']} clients)"),
        ("ratio transfers/s ÷ tps", f"{s['ratio']}"),
        ("client CPU per transfer", f"{s['client_cpu_ms_per_transfer']} ms"),
        ("clients", f"{s['clients']} in {s['processes']} processes ({s['client']}, {s['loop']})"),
        ("duration", f"{s['duration_s']} s, {s['transfers']:,} transfers committed"),
    ]
    if s["batches"]:
        rows.append(
            (
                "group commit",
                f"{s['batches']:,} batches, {s['mean_batch']} transfers each on average,"
                f" {s['batch_fallbacks']} posted again one by one",
            )
        )
    width = max(len(name) for name, _ in rows)
    print("\n".join(f"  {name:<{width}}  {value}" for name, value in rows))
    for sample in s["error_samples"]:
        print(f"  error: {sample}")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m loadtest.ledger_bench", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument(
        "--pgbench-clients", type=int, help="pgbench's clients (default: --clients)"
    )
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument(
        "--client",
        choices=["connection", "session", "autocommit", "group"],
        default="connection",
        help="connection: each worker holds one connection, BEGIN/COMMIT per transfer;"
        " session: a pooled session per transfer; autocommit: no BEGIN/COMMIT round trips;"
        " group: the process's clients share a group committer (ledger.GroupCommitter)",
    )
    parser.add_argument("--flushers", type=int, default=4, help="group: batches in flight")
    parser.add_argument("--max-batch", type=int, default=32, help="group: entries per batch")
    parser.add_argument("--loop", choices=["uvloop", "asyncio"], default="uvloop")
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json-out")
    ns = parser.parse_args(argv)
    if ns.pgbench_clients is None:
        ns.pgbench_clients = ns.clients
    if not 1 <= ns.flushers <= 64 or not 1 <= ns.max_batch <= ledger.group_commit.MAX_BATCH:
        parser.error(
            f"--flushers must be 1 to 64, --max-batch 1 to {ledger.group_commit.MAX_BATCH}"
        )
    if min(ns.clients, ns.pgbench_clients, ns.processes, ns.seconds) < 1 or ns.accounts < 2:
        parser.error(
            "--clients, --pgbench-clients, --processes and --seconds must be >= 1, --accounts >= 2"
        )
    return ns


def main(argv: list[str] | None = None) -> int:
    ns = parse_args(argv)
    tag = uuid.uuid4().hex[:10]
    ledger_db, pgbench_db = f"machipay_ledgerbench_{tag}", f"machipay_pgbench_{tag}"
    ledger_url = database_url(ns.database_url, ledger_db)
    created: list[str] = []
    try:
        for name in (ledger_db, pgbench_db):
            asyncio.run(admin_execute(ns.database_url, f'CREATE DATABASE "{name}"'))
            created.append(name)
        upgrade(ledger_url)
        started = time.perf_counter()
        asyncio.run(seed_ledger(ledger_url, ns.accounts))
        seed_seconds = time.perf_counter() - started
        print(f"ledger: {ns.accounts:,} accounts funded in {seed_seconds:.1f} s; running pgbench")
        asyncio.run(admin_execute(ns.database_url, "CHECKPOINT"))
        tps = run_pgbench(ns.database_url, pgbench_db, ns.pgbench_clients, ns.seconds)
        print(f"pgbench: {tps:,.1f} tps; running the ledger load")
        asyncio.run(admin_execute(ns.database_url, "CHECKPOINT"))
        load = run_ledger_load(ledger_url, ns)
        report = asyncio.run(verify(ledger_url))
    finally:
        for name in created:
            drop = f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'
            try:
                asyncio.run(admin_execute(ns.database_url, drop))
            except Exception as exc:  # keep the original error; say what is left behind
                print(f"could not drop scratch database {name}: {exc!r}")
    summary = summarize(ns, load, tps)
    summary["verify_ok"] = report.ok
    print_table(summary)
    print(report.summary())
    if ns.json_out:
        with open(ns.json_out, "w", encoding="utf-8") as out:
            json.dump(summary, out, indent=2)
    return 0 if report.ok and load.ok else 1


if __name__ == "__main__":
    # Run the imported module, not __main__: spawned processes unpickle its classes by name.
    from loadtest.ledger_bench import main as bench_main

    raise SystemExit(bench_main())
