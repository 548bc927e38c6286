"""The campaign-morning benchmark: HTTP payments against pgbench, in one run.

``python -m loadtest.bench`` answers what the ward asks: how many payments per second
does the whole platform take, through HTTP, on the first morning of a 30 % campaign, and
how does that compare with what this PostgreSQL server does for pgbench's classic write
transaction (tpcb-like, scale 10, same clients, same duration)?

Steps, all on scratch databases that are dropped at the end (``--keep`` keeps them):

1. migrate, seed ``--residents`` funded residents and ``--merchants`` shops
   (``machipay seed``'s code), approve a 30 % / 5 % campaign (maker-checker; none with
   ``--no-campaign``, the same morning on a platform without one), and mint an
   access token per resident (signing in 10,000 people through argon2 would take the
   benchmark's whole CPU for half an hour; sign-in has its own tests);
2. pgbench ``-i -s 10`` then tpcb-like for ``--seconds`` with ``--clients`` connections;
3. ``machipay serve --workers W`` on PostgreSQL + Redis (uvicorn, uvloop);
4. an untimed warm-up (a third of ``--seconds``, 3–10 s), then ``ANALYZE`` before each
   phase, as autovacuum keeps a running platform's statistics (tables a campaign fills
   start empty, and plans made for an empty table seq-scan it ever after);
5. locust (FastHttpUser, headless) with ``--users`` residents who pay again as soon as a
   payment answers, scanning static QR stickers: (a) spread over every shop → the peak,
   (b) 30 % of payments at one shop → the hot-shop ratio, (c) paced at 70 % of the peak
   → the latency a ward would see on a busy but not saturated morning, twice: the
   ``--users`` each on a fixed beat, then 4× as many residents each paying after an
   exponential wait (independent arrivals, as a ward's are; fixed beats bunch together
   behind one slow answer and stay bunched);
6. the overload (issue 20): ``--overload-factor`` times the users (4 × 64 = 256) for
   ``--seconds``, paying as fast as they are answered. The server admits a bounded number
   of payments per worker and refuses the rest at once (503 + ``Retry-After``); the users
   wait as asked and send the same payment again with the same key. Printed: goodput
   (accepted payments/s) against the peak of (a), p99 of the accepted payments, refusals,
   retries and payments given up, and a check that every accepted payment was paid exactly
   once and every one given up not at all (their idempotency keys against the payments,
   their ledger entries and the stored answers);
7. RSS of every API worker after the load, then ``machipay verify`` on the loaded
   database: nothing may be lost or double-counted under load;
8. with ``--ledger``, ``loadtest.ledger_bench`` (the app's Python path, one transaction per
   transfer, then group commit) against its own pgbench slot; with ``--peer PATH``,
   ``loadtest.peer_bench`` (``ledger_post`` and pgledger's transfer, both driven by pgbench,
   in alternating rounds after an uncounted warm-up slot each), so one run prints every row
   of issue 20's table.

The machine's CPU per payment is the busy time of every core (``/proc/stat``) over the
peak phase divided by the payments the database gained meanwhile: API workers, PostgreSQL,
Redis, the analytics worker and the load generator together, as a ward's own machine would
spend them.

Every phase is bounded by ``--seconds``; the table and a JSON summary are printed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from collections import Counter
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import redis
from sqlalchemy import select

from assembly.seeding import SeedPlan, seed_ward
from loadtest.campaign_bench import launch_campaign
from loadtest.ledger_bench import admin_execute, database_url, run_pgbench
from machipay.auth.tokens import issue_access_token
from machipay.db import create_engine, make_sessionmaker, unit_of_work
from machipay.migrate import upgrade
from machipay.settings import GROUP_COMMIT_IN_FLIGHT, Settings
from wallet_api.models import Resident

DEFAULT_URL = "postgresql://root@127.0.0.1:5432/postgres"
DEFAULT_REDIS = "redis://127.0.0.1:6379/14"
SECRET = "bench-secret-key-0123456789abcdef-0123456789"  # noqa: S105 - scratch server only
METRICS_TOKEN = "bench-metrics-token-0123456789abcdef"  # noqa: S105 - scratch server only
PAYMENT_ROUTE = 'method="POST",route="/api/v1/payments"'
BUCKET = re.compile(r"^(?P<metric>[a-z_]+)_bucket\{(?P<labels>[^}]*)\} (?P<count>[0-9.e+]+)$")
TOKEN_TTL = 6 * 3600
HERE = Path(__file__).resolve().parent
PAYMENT_NAMES = ("pay", "pay (hot shop)")
# Issue 20's targets.
TARGET_RATIO, TARGET_P99_MS, TARGET_HOT, TARGET_RSS_MB = 0.25, 100.0, 0.8, 250.0
TARGET_GOODPUT, TARGET_OVERLOAD_P99_MS, TARGET_MACHINE_MS = 0.9, 1_000.0, 4.0
TARGET_LEDGER_RATIO, TARGET_PEER_RATIO = 1.0, 1.0
CLK_TCK = os.sysconf("SC_CLK_TCK")


def machine_busy_s() -> float:
    """CPU seconds the whole machine has spent busy since boot (every core, every process)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:9]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields) - idle) / CLK_TCK


def free_port() -> int:
    with closing(socket.socket()) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


async def prepare(url: str, ns: argparse.Namespace, seed_file: Path) -> int | None:
    """Seed the ward, launch the campaign (unless ``--no-campaign``), write logins + tokens;
    returns the campaign id."""
    settings = Settings(
        database_url=url, environment="test", sealer_enabled=False, secret_key=SECRET
    )
    engine = create_engine(settings)
    sessionmaker = make_sessionmaker(engine)
    started = time.perf_counter()
    try:
        plan = SeedPlan(
            residents=ns.residents, merchants=ns.merchants, top_up=ns.top_up, batch=1000
        )
        result = await seed_ward(sessionmaker, settings, plan)
        campaign_id = None if ns.no_campaign else await launch_campaign(sessionmaker, settings)
        async with unit_of_work(sessionmaker) as session:
            ids = dict(
                (await session.execute(select(Resident.wallet_id, Resident.user_id))).tuples().all()
            )
    finally:
        await engine.dispose()
    for resident in result.residents:
        resident["token"] = issue_access_token(
            SECRET,
            user_id=ids[resident["wallet_id"]],
            role="resident",
            ttl_seconds=TOKEN_TTL,
            session_id=uuid.uuid4().hex,  # a session of its own, without a refresh family
        )[0]
    result.write(seed_file)
    say(
        f"seeded {ns.merchants} shops and {ns.residents} residents (¥{ns.top_up:,} each),"
        f" campaign {campaign_id or 'none'}, in {time.perf_counter() - started:.0f} s"
    )
    return campaign_id


def server_env(url: str, redis_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MACHIPAY_")}
    env.update(
        {
            # A scratch server on loopback: the development secrets are fine here, and the
            # server refuses them unless the environment says so.
            "MACHIPAY_ENVIRONMENT": "development",
            "MACHIPAY_DATABASE_URL": url,
            "MACHIPAY_REDIS_URL": redis_url,
            "MACHIPAY_SECRET_KEY": SECRET,
            "MACHIPAY_ACCESS_TOKEN_TTL_SECONDS": str(TOKEN_TTL),
            "MACHIPAY_REQUESTS_PER_IP_PER_MINUTE": "100000000",
            # Each locust user pays non-stop from one wallet (about two payments a second,
            # which no resident does): the per-account limit would refuse most of the load.
            "MACHIPAY_MONEY_MOVES_PER_ACCOUNT_PER_MINUTE": "100000",
            "MACHIPAY_LOG_LEVEL": "WARNING",
            "MACHIPAY_METRICS_TOKEN": METRICS_TOKEN,
        }
    )
    return env


def start_consumer(url: str, redis_url: str) -> subprocess.Popen[bytes]:
    """`machipay worker`: the analytics consumer (and the sealer) in a process of its own,
    as compose.yaml deploys it."""
    return subprocess.Popen(
        [sys.executable, "-m", "assembly", "worker"],
        env=server_env(url, redis_url),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def start_server(
    url: str,
    redis_url: str,
    port: int,
    workers: int,
    *,
    consumer_in_api: bool,
    env_overrides: dict[str, str] | None = None,
    log_file: Path | None = None,
) -> subprocess.Popen[bytes]:
    """``machipay serve``; its log goes to ``log_file`` when given (a log level that logs
    every request would fill an unread pipe and stall the workers)."""
    env = {**server_env(url, redis_url), **(env_overrides or {})}
    if not consumer_in_api:
        env["MACHIPAY_ANALYTICS_CONSUMER_ENABLED"] = "false"
        env["MACHIPAY_SEALER_ENABLED"] = "false"
    log = log_file.open("wb") if log_file is not None else subprocess.PIPE
    server = subprocess.Popen(
        [sys.executable, "-m", "assembly", "serve", "--port", str(port), "--workers", str(workers)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                time.sleep(1.0)  # let every worker finish its start-up
                return server
        except OSError:
            if server.poll() is not None:
                if server.stderr is not None:
                    stderr = server.stderr.read().decode()
                else:
                    stderr = log_file.read_text(errors="replace") if log_file else ""
                raise RuntimeError(f"server exited: {stderr[-2000:]}") from None
            time.sleep(0.3)
    raise RuntimeError("server did not start in 60 s")


def worker_rss_mb(server: subprocess.Popen[bytes]) -> list[float]:
    """Resident memory of each process of the server's group (the workers)."""
    sizes = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            if os.getpgid(int(pid)) != server.pid or int(pid) == server.pid:
                continue
            if b"resource_tracker" in Path(f"/proc/{pid}/cmdline").read_bytes():
                continue  # multiprocessing's helper, not a worker
            status = Path(f"/proc/{pid}/status").read_text()
        except (OSError, ProcessLookupError):
            continue
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                sizes.append(int(line.split()[1]) / 1024)
    return sorted(sizes)


def locust_invocation(
    host: str,
    seed_file: Path,
    ns: argparse.Namespace,
    *,
    hot_share: float,
    pay_rate: float,
    prefix: Path,
    outcomes: Path | None = None,
    arrivals: str = "paced",
) -> tuple[list[str], dict[str, str]]:
    """The headless locust command of one phase (``--seconds`` long, stats to ``prefix``)."""
    env = {
        **os.environ,
        "MACHIPAY_LOAD_ARRIVALS": arrivals,
        "MACHIPAY_LOAD_SEED": str(seed_file),
        "MACHIPAY_LOAD_MIX": "payments",
        "MACHIPAY_LOAD_HOT_SHARE": str(hot_share),
        "MACHIPAY_LOAD_PAY_RATE": str(pay_rate),
        "MACHIPAY_LOAD_MAX_RETRIES": str(ns.max_retries),
    }
    if outcomes is not None:
        env["MACHIPAY_LOAD_OUTCOMES"] = str(outcomes)
    env["MACHIPAY_LOAD_TIMELINE"] = f"{prefix}_timeline.json"
    env["MACHIPAY_LOAD_FIRST_RESIDENT"] = str(ns.residents_cursor.next)
    command = [
        sys.executable, "-m", "locust", "-f", str(HERE / "locustfile.py"), "--host", host,
        "--headless", "-u", str(ns.users), "-r", str(ns.users), "-t", f"{ns.seconds}s",
        "--csv", str(prefix), "--only-summary", "--stop-timeout", "5",
    ]  # fmt: skip
    return command, env


@dataclass
class ResidentsCursor:
    """Where in the logins file the next phase's users start. A phase's users spend most of
    their wallets; the next phase starting on the same residents began with a burst of
    refusals (402, each paid on its own on a connection the pool had to open) that made
    its first seconds the slowest of the run. Shared by every phase's options."""

    next: int = 0


def move_past_spent_residents(ns: argparse.Namespace, results: dict[str, Any]) -> None:
    """After a phase: every user took a resident of its own, and another for each wallet
    that ran dry, so the next phase starts past them."""
    ns.residents_cursor.next += ns.users + results["refused_insufficient"]


# A phase's first seconds, left out of its settled latency: every user starts, connects and
# makes its first payment then, and whatever the previous phase left behind is paid off.
SETTLING_S = 3.0


def settled_latency(timeline_file: Path, settling_s: float = SETTLING_S) -> dict[str, Any]:
    """p50 / p95 / p99 (ms) of the payments sent ``settling_s`` or more after the phase's
    first, and the worst of those sent before."""
    if not timeline_file.exists():
        return {}
    timeline: list[list[float]] = json.loads(timeline_file.read_text())
    if not timeline:
        return {}
    start = min(sent for sent, _ in timeline)
    later = sorted(ms for sent, ms in timeline if sent - start >= settling_s)
    early = [ms for sent, ms in timeline if sent - start < settling_s]
    if not later:
        return {}

    def at(q: float) -> float:
        return round(later[min(len(later) - 1, int(q * len(later)))])

    return {
        "settled_p50_ms": at(0.50),
        "settled_p95_ms": at(0.95),
        "settled_p99_ms": at(0.99),
        "first_seconds_max_ms": round(max(early)) if early else None,
    }


def locust_results(prefix: Path, label: str) -> dict[str, Any]:
    """A phase's payments, rate, latency and failures from locust's CSV."""
    rows = list(csv.DictReader(Path(f"{prefix}_stats.csv").read_text().splitlines()))
    pay_rows = [r for r in rows if r["Name"] in PAYMENT_NAMES]
    count = sum(int(r["Request Count"]) for r in pay_rows)
    failures = sum(int(r["Failure Count"]) for r in rows if r["Name"] != "Aggregated")

    def requests(name: str) -> int:
        return sum(int(r["Request Count"]) for r in rows if r["Name"] == name)

    refused = requests("pay refused: insufficient funds")

    def pct(name: str, column: str) -> float | None:
        for r in rows:
            if r["Name"] == name and r[column] not in ("N/A", ""):
                return float(r[column])
        return None

    rate = sum(float(r["Requests/s"]) for r in pay_rows)
    return {
        "label": label,
        "payments": count,
        "payments_per_s": rate,
        "hot_payments_per_s": sum(
            float(r["Requests/s"]) for r in pay_rows if r["Name"] == "pay (hot shop)"
        ),
        "p50_ms": pct("pay", "50%"),
        "p95_ms": pct("pay", "95%"),
        "p99_ms": pct("pay", "99%"),
        "failures": failures,
        "refused_insufficient": refused,
        # Overload (503 + Retry-After): every refused try, every retry, every payment given
        # up; accepted = answered 201, goodput = accepted per second.
        "refused_overloaded": requests("pay refused: overloaded"),
        "retries": requests("pay retry"),
        "gave_up": requests("pay gave up: overloaded"),
        "accepted": requests("pay completed (end to end)"),
        "goodput_per_s": sum(
            float(r["Requests/s"]) for r in rows if r["Name"] == "pay completed (end to end)"
        ),
        "end_to_end_p99_ms": pct("pay completed (end to end)", "99%"),
        **settled_latency(Path(f"{prefix}_timeline.json")),
    }


def run_locust(
    host: str,
    seed_file: Path,
    ns: argparse.Namespace,
    *,
    hot_share: float,
    pay_rate: float,
    label: str,
    out_dir: Path,
    outcomes: Path | None = None,
    database: str | None = None,
    arrivals: str = "paced",
) -> dict[str, Any]:
    """One locust phase; with ``database`` (a libpq URL of the app's database), also the
    machine's busy CPU per payment made."""
    prefix = out_dir / label
    command, env = locust_invocation(
        host, seed_file, ns, hot_share=hot_share, pay_rate=pay_rate, prefix=prefix,
        outcomes=outcomes, arrivals=arrivals,
    )  # fmt: skip
    started = time.perf_counter()
    made_before = asyncio.run(payments_watermark(database)) if database else (0, 0)
    histogram_before = payment_buckets(host) if database else {}
    held_before, batches_before = batch_totals(host) if database else (0.0, 0.0)
    busy_before = machine_busy_s()
    cpu_before = os.times()
    with WaitSampler(database) if database else contextlib.nullcontext() as waits:
        subprocess.run(
            command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            timeout=ns.seconds + 120, check=False,
        )  # fmt: skip
    cpu_after = os.times()
    busy = machine_busy_s() - busy_before
    results = locust_results(prefix, label)
    move_past_spent_residents(ns, results)
    # Busy time over the load generator's whole life (start-up included) against the
    # payments the database gained over the same span: every process, ours or not.
    made = (asyncio.run(payments_watermark(database))[0] - made_before[0]) if database else 0
    histogram_after = payment_buckets(host) if database else {}
    server = (
        server_percentiles(histogram_before["latency"], histogram_after["latency"])
        if database
        else {}
    )
    batch_times = {
        name: server_percentiles(histogram_before[name], histogram_after[name])
        for name in ("batch_wait", "batch_duration", "loop_lag", "gc_pause")
        if database
    }
    held_after, batches_after = batch_totals(host) if database else (0.0, 0.0)
    batches = batches_after - batches_before
    return {
        "server": server,
        **batch_times,
        "batches": int(batches),
        "mean_batch": (held_after - held_before) / batches if batches else None,
        "backends": waits.summary() if waits is not None else {},
        **results,
        "load_generator_cpu_s": (cpu_after.children_user + cpu_after.children_system)
        - (cpu_before.children_user + cpu_before.children_system),
        "elapsed_s": time.perf_counter() - started,
        "machine_busy_s": busy,
        "payments_made": made,
        "machine_ms_per_payment": 1000 * busy / made if made else None,
    }


def machipay_verify(url: str) -> tuple[bool, str]:
    done = subprocess.run(
        [sys.executable, "-m", "assembly", "verify"],
        env=server_env(url, DEFAULT_REDIS),
        capture_output=True, text=True, timeout=1800, check=False,
    )  # fmt: skip
    return done.returncode == 0, (done.stdout + done.stderr).strip()


async def ingest_lag(url: str, drain_seconds: float = 30.0) -> dict[str, float | int | None]:
    """How long payments waited between their commit and their analytics fact: each
    outbox row's processed_at − created_at (the consumer marks a row in the transaction
    that stores its fact). Waits for the consumers to drain what the load left behind."""
    conn = await asyncpg.connect(url)
    try:
        deadline = time.monotonic() + drain_seconds
        while time.monotonic() < deadline:
            waiting = await conn.fetchval(
                "SELECT count(*) FROM outbox_events WHERE processed_at IS NULL"
            )
            if not waiting:
                break
            await asyncio.sleep(0.5)
        lag = "extract(epoch FROM processed_at - created_at)"
        row = await conn.fetchrow(
            f"SELECT count(*) AS n, percentile_cont(0.5) WITHIN GROUP (ORDER BY {lag}) AS p50,"
            f" percentile_cont(0.95) WITHIN GROUP (ORDER BY {lag}) AS p95, max({lag}) AS max"
            " FROM outbox_events WHERE processed_at IS NOT NULL AND topic LIKE 'payment.%'"
        )
        left = await conn.fetchval("SELECT count(*) FROM outbox_events WHERE processed_at IS NULL")
    finally:
        await conn.close()
    return {
        "events": int(row["n"]),
        "p50_s": None if row["p50"] is None else float(row["p50"]),
        "p95_s": None if row["p95"] is None else float(row["p95"]),
        "max_s": None if row["max"] is None else float(row["max"]),
        "unprocessed": int(left),
    }


async def payments_watermark(url: str) -> tuple[int, int]:
    """The last payment id and the last stored idempotency-key id before a phase."""
    conn = await asyncpg.connect(url)
    try:
        payments = await conn.fetchval("SELECT coalesce(max(id), 0) FROM payments")
        keys = await conn.fetchval("SELECT coalesce(max(id), 0) FROM idempotency_keys")
    finally:
        await conn.close()
    return int(payments), int(keys)


async def exactly_once(
    url: str, keys: dict[str, list[str]] | None, watermark: tuple[int, int]
) -> dict[str, Any]:
    """After the overload phase: was every payment the load generator saw accepted paid
    exactly once, and every one it gave up on (only ever refused as overloaded) not at all?

    Each payment's ledger entry carries ``pay:<resident>:<Idempotency-Key>`` and is unique,
    so a key is looked up through its entries and the payments that point at them. Beside
    that, every payment the phase made must have its stored 201 answer under its key (what
    a retry replays instead of paying again), however many answers the generator missed."""
    if keys is None:
        return {"checked": False}
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("CREATE TEMP TABLE bench_keys (key text, outcome text)")
        await conn.copy_records_to_table(
            "bench_keys",
            records=[(k, "accepted") for k in keys["accepted"]]
            + [(k, "gave_up") for k in keys["gave_up"]],
        )
        per_key = await conn.fetch(
            "SELECT k.outcome, count(p.id) AS paid FROM bench_keys k"
            " LEFT JOIN ledger_entries e ON e.idempotency_key LIKE 'pay:%'"
            "  AND split_part(e.idempotency_key, ':', 3) = k.key"
            " LEFT JOIN payments p ON p.entry_id = e.id"
            " GROUP BY k.key, k.outcome"
        )
        made = await conn.fetchval("SELECT count(*) FROM payments WHERE id > $1", watermark[0])
        answered = await conn.fetchval(
            "SELECT count(*) FROM idempotency_keys WHERE id > $1 AND status_code = 201"
            " AND scope LIKE 'user:%'",
            watermark[1],
        )
    finally:
        await conn.close()
    accepted = [r["paid"] for r in per_key if r["outcome"] == "accepted"]
    gave_up = [r["paid"] for r in per_key if r["outcome"] == "gave_up"]
    result = {
        "checked": True,
        "accepted": len(accepted),
        "lost": sum(1 for n in accepted if n == 0),
        "duplicated": sum(1 for n in accepted if n > 1),
        "gave_up": len(gave_up),
        "paid_after_giving_up": sum(1 for n in gave_up if n > 0),
        "payments_in_phase": int(made),
        "stored_answers_in_phase": int(answered),
    }
    result["ok"] = (
        result["lost"] == 0
        and result["duplicated"] == 0
        and result["paid_after_giving_up"] == 0
        and made == answered
    )
    return result


# A statement's short name: the function it calls, else its first words (BEGIN, COMMIT,
# INSERT INTO analytics_facts).
_STATEMENT = (
    "coalesce(substring(query from 'FROM (\\w+)\\('),"
    " substring(query from '^\\s*((?:INSERT INTO |UPDATE |DELETE FROM )?\\w+)'), '?')"
)


class WaitSampler:
    """What the app's PostgreSQL backends are doing, sampled every 50 ms during a phase:
    running on a CPU, waiting (for a row lock, the WAL flush of a commit…), or holding a
    transaction open while the API worker computes its next statement.
    A thread of its own with one connection, so sampling never waits for the load."""

    def __init__(self, database: str) -> None:
        self.database = database
        self.counts: Counter[str] = Counter()
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> WaitSampler:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        asyncio.run(self._sample())

    async def _sample(self) -> None:
        conn = await asyncpg.connect(self.database)
        try:
            while not self._stop.is_set():
                rows = await conn.fetch(
                    # "idle in transaction": a transaction open while the API worker runs
                    # its Python between two statements (its locks held meanwhile), named
                    # by the statement it has just had answered; the others by the
                    # statement they run.
                    "SELECT CASE WHEN state = 'idle in transaction' THEN 'app after '"
                    " ELSE coalesce(wait_event_type || ':' || wait_event, 'CPU') || ' in '"
                    f" END || {_STATEMENT} AS what,"
                    " count(*) AS n FROM pg_stat_activity WHERE datname = current_database()"
                    " AND state IN ('active', 'idle in transaction')"
                    " AND pid <> pg_backend_pid() GROUP BY 1"
                )
                self.samples += 1
                for row in rows:
                    self.counts[row["what"]] += row["n"]
                await asyncio.sleep(0.05)
        finally:
            await conn.close()

    def summary(self, top: int = 12) -> dict[str, float]:
        """Mean active backends per sample, by what they were doing (the largest first)."""
        if not self.samples:
            return {}
        return {what: n / self.samples for what, n in self.counts.most_common(top)}


def metrics_text(host: str) -> str | None:
    """The server's ``/metrics`` (every worker's), or None when it cannot be read (the
    figures from it are left out and the run goes on)."""
    url, auth = f"{host}/metrics", {"Authorization": f"Bearer {METRICS_TOKEN}"}
    request = urllib.request.Request(url, headers=auth)  # noqa: S310 - our own loopback server
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            return str(response.read().decode())
    except OSError as exc:
        say(f"could not read {url}: {exc}")
        return None


def histogram_buckets(text: str | None, metric: str, labels: str = "") -> dict[float, float]:
    """A histogram's cumulative counts by upper bound (every worker's, summed), from the text
    of ``/metrics``; only series whose labels contain ``labels``."""
    buckets: dict[float, float] = {}
    for line in (text or "").splitlines():
        match = BUCKET.match(line)
        if match is None or match["metric"] != metric or labels not in match["labels"]:
            continue
        bound = re.search(r'le="([^"]+)"', match["labels"])
        if bound is not None:
            le = float("inf") if bound[1] == "+Inf" else float(bound[1])
            buckets[le] = buckets.get(le, 0.0) + float(match["count"])
    return buckets


def payment_buckets(host: str) -> dict[str, dict[float, float]]:
    """The server's own histograms of ``POST /api/v1/payments`` (its latency, and with group
    commit a payment's wait for its batch and the batches' own time): cumulative counts by
    upper bound in seconds."""
    text = metrics_text(host)
    return {
        "latency": histogram_buckets(text, "machipay_http_request_duration_seconds", PAYMENT_ROUTE),
        "batch_wait": histogram_buckets(text, "machipay_payment_batch_wait_seconds"),
        "batch_duration": histogram_buckets(text, "machipay_payment_batch_duration_seconds"),
        "loop_lag": histogram_buckets(text, "machipay_event_loop_lag_seconds"),
        "gc_pause": histogram_buckets(text, "machipay_gc_pause_seconds"),
    }


def batch_totals(host: str) -> tuple[float, float]:
    """The payment group commit's batches so far (every worker's, from ``/metrics``): the
    payments they held and their number."""
    held = batches = 0.0
    for line in (metrics_text(host) or "").splitlines():
        name, _, value = line.partition(" ")
        if name.startswith("machipay_payment_batch_size_sum"):
            held += float(value)
        elif name.startswith("machipay_payment_batch_size_count"):
            batches += float(value)
    return held, batches


def server_percentiles(before: dict[float, float], after: dict[float, float]) -> dict[str, Any]:
    """The phase's share of the histogram: for p50/p95/p99, the bucket bound it falls under
    (an upper bound, in ms), as the server measured it, from its outermost middleware to the
    last byte handed to the ASGI server (the client's and the kernel's queues are not in it)."""
    bounds = sorted(after)
    counts = [after[b] - before.get(b, 0.0) for b in bounds]
    total = counts[-1] if counts else 0.0
    result: dict[str, Any] = {"requests": int(total)}
    for name, q in (("p50", 0.50), ("p95", 0.95), ("p99", 0.99)):
        bound = next((b for b, c in zip(bounds, counts, strict=True) if c >= q * total), None)
        result[f"{name}_le_ms"] = None if bound is None or not total else 1000 * bound
    return result


def side_bench(module: str, args: list[str], out_dir: Path, name: str) -> dict[str, Any] | None:
    """Run another loadtest script in the same run (the ledger's and the peer's rows)."""
    out = out_dir / f"{name}.json"
    say(f"{name}: python -m {module} {' '.join(args)}")
    done = subprocess.run(
        [sys.executable, "-m", module, *args, "--json-out", str(out)],
        capture_output=True, text=True, timeout=1800, check=False,
    )  # fmt: skip
    if not out.exists():
        say(f"{name} failed ({done.returncode}):\n{(done.stdout + done.stderr)[-2000:]}")
        return None
    result: dict[str, Any] = json.loads(out.read_text())
    result["exit_code"] = done.returncode
    return result


def ledger_rows(ns: argparse.Namespace, out_dir: Path) -> dict[str, Any]:
    """``--ledger``: transfers through the app's Python path against pgbench, unbatched
    and with group commit; ``--peer``: ``ledger_post`` against pgledger's transfer."""
    rows: dict[str, Any] = {}
    if ns.ledger:
        for client, clients in (("session", ns.clients), ("group", ns.group_clients)):
            rows[f"ledger_{client}"] = side_bench(
                "loadtest.ledger_bench",
                ["--client", client, "--clients", str(clients),
                 "--pgbench-clients", str(ns.clients), "--seconds", str(ns.seconds),
                 "--database-url", ns.url],
                out_dir, f"ledger-{client}",
            )  # fmt: skip
    if ns.peer is not None:
        rows["peer"] = side_bench(
            "loadtest.peer_bench",
            ["--pgledger", str(ns.peer), "--clients", str(ns.clients),
             "--seconds", str(ns.seconds), "--url", ns.url],
            out_dir, "peer",
        )  # fmt: skip
    return rows


def bench(ns: argparse.Namespace) -> dict[str, Any]:
    tag = uuid.uuid4().hex[:10]
    app_db, pgbench_db = f"machipay_bench_{tag}", f"machipay_pgbench_{tag}"
    url = database_url(ns.url, app_db)
    out_dir = Path(tempfile.mkdtemp(prefix="machipay-bench-"))
    seed_file = out_dir / "seed.json"
    server: subprocess.Popen[bytes] | None = None
    consumer: subprocess.Popen[bytes] | None = None
    for name in (app_db, pgbench_db):
        asyncio.run(admin_execute(ns.url, f'CREATE DATABASE "{name}"'))
    try:
        upgrade(url)
        campaign_id = asyncio.run(prepare(url, ns, seed_file))
        asyncio.run(admin_execute(database_url(ns.url, app_db, "postgresql"), "VACUUM ANALYZE"))
        say(f"pgbench tpcb-like, scale 10, {ns.clients} clients, {ns.seconds} s")
        tps = run_pgbench(ns.url, pgbench_db, ns.clients, ns.seconds)
        say(f"pgbench: {tps:,.0f} tps")
        redis.Redis.from_url(ns.redis_url).flushdb()
        port = free_port()
        consumer_in_api = ns.consumer == "api"
        if not consumer_in_api:
            consumer = start_consumer(url, ns.redis_url)
        overrides = {}
        if ns.in_flight:
            overrides["MACHIPAY_PAYMENTS_IN_FLIGHT"] = str(ns.in_flight)
        if ns.queue_wait_ms is not None:
            overrides["MACHIPAY_PAYMENT_QUEUE_WAIT_MS"] = str(ns.queue_wait_ms)
        if ns.no_group_commit:
            overrides["MACHIPAY_PAYMENT_GROUP_COMMIT"] = "false"
        if ns.batch_flushers:
            overrides["MACHIPAY_PAYMENT_BATCH_FLUSHERS"] = str(ns.batch_flushers)
        server = start_server(
            url, ns.redis_url, port, ns.workers, consumer_in_api=consumer_in_api,
            env_overrides=overrides,
        )  # fmt: skip
        host = f"http://127.0.0.1:{port}"
        app_admin = database_url(ns.url, app_db, "postgresql")
        # Untimed: the tables a campaign fills (points lots, rewards, tallies, payments) start
        # empty, and plans made for an empty table seq-scan it ever after. A running
        # platform's autovacuum keeps statistics fresh; so does the benchmark, before each
        # phase, after a short warm-up.
        warm = argparse.Namespace(**{**vars(ns), "seconds": max(3, min(10, ns.seconds // 3))})
        run_locust(
            host, seed_file, warm, hot_share=0.0, pay_rate=0.0, label="warm-up", out_dir=out_dir
        )
        asyncio.run(admin_execute(app_admin, "ANALYZE"))
        run = {"hot_share": 0.0, "pay_rate": 0.0, "out_dir": out_dir, "database": app_admin}
        spread = run_locust(host, seed_file, ns, label="spread", **run)  # type: ignore[arg-type]
        say(f"spread: {spread['payments_per_s']:.0f} payments/s, p99 {spread['p99_ms']} ms")
        asyncio.run(admin_execute(app_admin, "ANALYZE"))
        hot = run_locust(
            host, seed_file, ns, hot_share=0.3, pay_rate=0.0, label="hot", out_dir=out_dir,
            database=app_admin,
        )  # fmt: skip
        say(f"hot shop (30 %): {hot['payments_per_s']:.0f} payments/s")
        asyncio.run(admin_execute(app_admin, "ANALYZE"))
        paced_rate = 0.7 * spread["payments_per_s"] / ns.users
        paced = run_locust(
            host, seed_file, ns, hot_share=0.0, pay_rate=paced_rate, label="paced",
            out_dir=out_dir, database=app_admin,
        )  # fmt: skip
        say(f"70 % of peak: {paced['payments_per_s']:.0f} payments/s, p99 {paced['p99_ms']} ms")
        asyncio.run(admin_execute(app_admin, "ANALYZE"))
        # Lower paced shares, to find the highest rate whose p99 is within the target.
        lower: dict[str, dict[str, Any]] = {}
        for share in ns.also_paced:
            lower[f"{share:g}"] = phase = run_locust(
                host, seed_file, ns, hot_share=0.0, pay_rate=share * spread["payments_per_s"]
                / ns.users, label=f"paced-{share:g}", out_dir=out_dir, database=app_admin,
            )  # fmt: skip
            say(
                f"{100 * share:g} % of peak: {phase['payments_per_s']:.0f} payments/s,"
                f" p99 {phase['p99_ms']} ms"
            )
            asyncio.run(admin_execute(app_admin, "ANALYZE"))
        # The same 70 % from a crowd: the overload phase's residents, each paying after an
        # exponential wait, so arrivals are independent (as a ward's are) rather than 64
        # fixed beats that a slow answer can bunch together.
        crowd = argparse.Namespace(**{**vars(ns), "users": ns.users * ns.overload_factor})
        poisson = run_locust(
            host, seed_file, crowd, hot_share=0.0, pay_rate=0.7 * spread["payments_per_s"]
            / crowd.users, label="poisson", out_dir=out_dir, arrivals="poisson",
            database=app_admin,
        )  # fmt: skip
        say(
            f"70 % of peak, Poisson arrivals: {poisson['payments_per_s']:.0f} payments/s,"
            f" p99 {poisson['p99_ms']} ms"
        )
        asyncio.run(admin_execute(app_admin, "ANALYZE"))
        outcomes = out_dir / "overload-outcomes.json"
        watermark = asyncio.run(payments_watermark(app_admin))
        overload = run_locust(
            host, seed_file, crowd, hot_share=0.0, pay_rate=0.0, label="overload",
            out_dir=out_dir, outcomes=outcomes, database=app_admin,
        )  # fmt: skip
        keys = json.loads(outcomes.read_text()) if outcomes.exists() else None
        once = asyncio.run(exactly_once(app_admin, keys, watermark))
        say(
            f"overload {ns.overload_factor}x ({crowd.users} payers):"
            f" {overload['goodput_per_s']:.0f} accepted payments/s, p99 {overload['p99_ms']} ms,"
            f" {overload['refused_overloaded']} refused, {overload['retries']} retries"
        )
        rss = worker_rss_mb(server)
        say("analytics ingest lag (outbox commit → fact queryable) under that load")
        lag = asyncio.run(ingest_lag(database_url(ns.url, app_db, "postgresql")))
    finally:
        for process in (server, consumer):
            if process is not None:
                os.killpg(process.pid, signal.SIGTERM)
                process.wait(timeout=30)
    say("machipay verify on the loaded database")
    verified, report = machipay_verify(url)
    if not ns.keep:
        for name in (app_db, pgbench_db):
            asyncio.run(admin_execute(ns.url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    side = ledger_rows(ns, out_dir)
    return {
        **side,
        "machine": {"cores": os.cpu_count()},
        "settings": {
            "residents": ns.residents,
            "merchants": ns.merchants,
            "workers": ns.workers,
            "users": ns.users,
            "overload_users": ns.users * ns.overload_factor,
            "seconds": ns.seconds,
            "pgbench_clients": ns.clients,
            "consumer": ns.consumer,
            "in_flight": ns.in_flight,
            "queue_wait_ms": ns.queue_wait_ms,
            "group_commit": not ns.no_group_commit,
            "batch_flushers": ns.batch_flushers,
            "campaign_id": campaign_id,
        },
        "pgbench_tps": tps,
        "spread": spread,
        "hot": hot,
        "paced": paced,
        "paced_lower": lower,
        "poisson": poisson,
        "overload": overload,
        "overload_goodput_ratio": overload["goodput_per_s"] / spread["payments_per_s"]
        if spread["payments_per_s"]
        else None,
        "exactly_once": once,
        "ratio_to_pgbench": spread["payments_per_s"] / tps if tps else None,
        "hot_ratio": hot["payments_per_s"] / spread["payments_per_s"]
        if spread["payments_per_s"]
        else None,
        "worker_rss_mb": rss,
        "ingest_lag": lag,
        "verify_ok": verified,
        "verify_report": report,
        "kept_databases": [app_db, pgbench_db] if ns.keep else [],
    }


def backends(phase: dict[str, Any]) -> str:
    found = phase.get("backends") or {}
    return ", ".join(f"{what} {n:.1f}" for what, n in found.items()) or "–"


def server_side(phase: dict[str, Any]) -> str:
    server = phase.get("server") or {}
    if not server.get("requests"):
        return "–"
    return " / ".join(
        "–" if server[f"{p}_le_ms"] is None else f"{server[f'{p}_le_ms']:g}"
        for p in ("p50", "p95", "p99")
    )


def fmt_ms(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f} ms"


def side_lines(s: dict[str, Any]) -> list[tuple[str, str]]:
    lines = []
    for client, target in (("session", TARGET_LEDGER_RATIO), ("group", 2 * TARGET_LEDGER_RATIO)):
        if f"ledger_{client}" not in s:
            continue  # not asked for (--ledger)
        row = s[f"ledger_{client}"]
        lines.append(
            (
                f"ledger ({client}) transfers/s ÷ pgbench",
                "failed"
                if row is None
                else f"{row['transfers_per_s']:,.0f} ({row['clients']} clients) ÷"
                f" {row['pgbench_tps']:,.0f} ({row['pgbench_clients']}) = "
                f"{row['ratio']:.2f} (target ≥ {target:.1f}: {verdict(row['ratio'] >= target)};"
                f" client CPU {row['client_cpu_ms_per_transfer']:.2f} ms/transfer; verify "
                f"{'green' if row['verify_ok'] else 'RED'})",
            )
        )
    if "peer" in s:
        peer = s["peer"]
        lines.append(
            (
                "ledger_post by pgbench ÷ tpcb, ÷ peer",
                "failed"
                if peer is None
                else f"{peer['ours_to_tpcb']:.2f} and {peer['ours_to_peer']:.2f} (target ÷ peer"
                f" ≥ {TARGET_PEER_RATIO:.1f}: {verdict(peer['ours_to_peer'] >= TARGET_PEER_RATIO)};"
                f" books {'ok' if peer['books_ok'] else 'BROKEN'})",
            )
        )
    return lines


def fmt_s(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f} s"


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def print_table(s: dict[str, Any]) -> None:
    spread, hot, paced, over = s["spread"], s["hot"], s["paced"], s["overload"]
    poisson = s["poisson"]
    once, goodput_ratio = s["exactly_once"], s["overload_goodput_ratio"] or 0.0
    rss = s["worker_rss_mb"]
    lines = [
        ("pgbench tpcb-like tps", f"{s['pgbench_tps']:,.0f}"),
        ("HTTP payments/s at peak (spread)", f"{spread['payments_per_s']:,.1f}"),
        (
            "ratio payments/s ÷ pgbench tps",
            f"{s['ratio_to_pgbench']:.2f} (target ≥ {TARGET_RATIO}: "
            f"{verdict(s['ratio_to_pgbench'] >= TARGET_RATIO)})",
        ),
        (
            "peak latency p50 / p95 / p99 ms",
            f"{spread['p50_ms']} / {spread['p95_ms']} / {spread['p99_ms']}",
        ),
        (
            "machine CPU per payment at the peak",
            f"{fmt_ms(spread['machine_ms_per_payment'])} (all processes, /proc/stat; target ≤ "
            f"{TARGET_MACHINE_MS:.0f}: "
            f"{verdict((spread['machine_ms_per_payment'] or 1e9) <= TARGET_MACHINE_MS)})",
        ),
        *side_lines(s),
        ("paced at 70 %: payments/s", f"{paced['payments_per_s']:,.1f}"),
        (
            "paced at 70 %: p50 / p95 / p99 ms",
            f"{paced['p50_ms']} / {paced['p95_ms']} / {paced['p99_ms']} (p99 target ≤ "
            f"{TARGET_P99_MS:.0f}: {verdict((paced['p99_ms'] or 1e9) <= TARGET_P99_MS)})",
        ),
        *(
            (
                f"paced at {100 * float(share):g} %: payments/s; p50 / p95 / p99 ms",
                f"{phase['payments_per_s']:,.1f}; {phase['p50_ms']} / {phase['p95_ms']} / "
                f"{phase['p99_ms']} (p99 ≤ {TARGET_P99_MS:.0f}: "
                f"{verdict((phase['p99_ms'] or 1e9) <= TARGET_P99_MS)})",
            )
            for share, phase in (s.get("paced_lower") or {}).items()
        ),
        (
            f"70 %, Poisson ({s['settings']['overload_users']} residents): payments/s",
            f"{poisson['payments_per_s']:,.1f}",
        ),
        (
            "70 %, Poisson: p50 / p95 / p99 ms",
            f"{poisson['p50_ms']} / {poisson['p95_ms']} / {poisson['p99_ms']} (p99 target ≤ "
            f"{TARGET_P99_MS:.0f}: {verdict((poisson['p99_ms'] or 1e9) <= TARGET_P99_MS)})",
        ),
        *(
            (
                f"{name}: after its first {SETTLING_S:g} s, p50 / p95 / p99 ms; the worst before",
                "–"
                if phase.get("settled_p99_ms") is None
                else f"{phase['settled_p50_ms']} / {phase['settled_p95_ms']} / "
                f"{phase['settled_p99_ms']} (p99 ≤ {TARGET_P99_MS:.0f}: "
                f"{verdict(phase['settled_p99_ms'] <= TARGET_P99_MS)}); "
                f"{phase.get('first_seconds_max_ms')}",
            )
            for name, phase in (
                ("paced at 70 %", paced),
                *(
                    (f"paced at {100 * float(share):g} %", lower_phase)
                    for share, lower_phase in (s.get("paced_lower") or {}).items()
                ),
                ("70 %, Poisson", poisson),
            )
        ),
        (
            "server-side p50 / p95 / p99 ≤ ms (peak, paced, Poisson)",
            ", ".join(server_side(phase) for phase in (spread, paced, poisson)),
        ),
        (
            "payment batches: mean size (peak, paced, Poisson, 4×)",
            ", ".join(
                "off" if not s["settings"].get("group_commit", True)
                else f"{phase.get('mean_batch') or 0:.1f}"
                for phase in (spread, paced, poisson, over)
            ),
        ),
        (
            "batch wait / batch's own time p50 / p95 / p99 ≤ ms (peak, paced, Poisson)",
            ", ".join(
                f"{server_side({'server': phase.get('batch_wait')})} + "
                f"{server_side({'server': phase.get('batch_duration')})}"
                for phase in (spread, paced, poisson)
            ),
        ),
        (
            "API workers' event loop lag p50 / p95 / p99 ≤ ms (peak, paced, Poisson)",
            ", ".join(
                server_side({"server": phase.get("loop_lag")}) for phase in (spread, paced, poisson)
            ),
        ),
        (
            "API workers' full GCs: count; p50 / p95 / p99 ≤ ms (peak, paced, Poisson)",
            ", ".join(
                f"{(phase.get('gc_pause') or {}).get('requests', 0)}; "
                f"{server_side({'server': phase.get('gc_pause')})}"
                for phase in (spread, paced, poisson)
            ),
        ),
        *(
            (f"{name}: active PostgreSQL backends by state", backends(phase))
            for name, phase in (("peak", spread), ("paced", paced), ("Poisson", poisson))
        ),
        ("hot shop (30 %): payments/s", f"{hot['payments_per_s']:,.1f}"),
        (
            "hot ÷ spread",
            f"{s['hot_ratio']:.2f} (target ≥ {TARGET_HOT}: "
            f"{verdict(s['hot_ratio'] >= TARGET_HOT)})",
        ),
        (
            "errors (spread / hot / paced / Poisson)",
            f"{spread['failures']} / {hot['failures']} / {paced['failures']} / "
            f"{poisson['failures']}",
        ),
        (
            "refused for insufficient funds",
            f"{spread['refused_insufficient']} / {hot['refused_insufficient']} / "
            f"{paced['refused_insufficient']}",
        ),
        (
            f"overload {s['settings']['overload_users']} payers: goodput payments/s",
            f"{over['goodput_per_s']:,.1f} = {goodput_ratio:.2f}× peak (target ≥ "
            f"{TARGET_GOODPUT}: {verdict(goodput_ratio >= TARGET_GOODPUT)})",
        ),
        (
            "overload: accepted p50 / p95 / p99 ms",
            f"{over['p50_ms']} / {over['p95_ms']} / {over['p99_ms']} (p99 target ≤ "
            f"{TARGET_OVERLOAD_P99_MS:.0f}: "
            f"{verdict((over['p99_ms'] or 1e9) <= TARGET_OVERLOAD_P99_MS)}); end to end with"
            f" waits p99 {over['end_to_end_p99_ms']}",
        ),
        (
            "overload: refused 503 / retries / given up",
            f"{over['refused_overloaded']} / {over['retries']} / {over['gave_up']}"
            f" (errors {over['failures']})",
        ),
        (
            "overload: exactly once",
            (
                f"{once['accepted']:,} accepted: {once['lost']} lost, {once['duplicated']}"
                f" duplicated; {once['gave_up']} given up: {once['paid_after_giving_up']} paid;"
                f" {once['payments_in_phase']:,} payments = {once['stored_answers_in_phase']:,}"
                f" stored answers ({'ok' if once['ok'] else 'BROKEN'})"
            )
            if once["checked"]
            else "not checked (no outcomes file)",
        ),
        (
            "RSS per worker MB",
            ", ".join(f"{m:.0f}" for m in rss)
            + f" (target ≤ {TARGET_RSS_MB:.0f}: "
            f"{verdict(bool(rss) and max(rss) <= TARGET_RSS_MB)})",
        ),
        (
            "load generator CPU s (spread)",
            f"{spread['load_generator_cpu_s']:.1f} of {spread['elapsed_s']:.0f} s",
        ),
        (
            "analytics ingest lag p50 / p95",
            f"{fmt_s(s['ingest_lag']['p50_s'])} / {fmt_s(s['ingest_lag']['p95_s'])}"
            f" over {s['ingest_lag']['events']:,} events"
            f" (target p95 ≤ 2 s: {verdict((s['ingest_lag']['p95_s'] or 99) <= 2.0)})",
        ),
        ("machipay verify", "green" if s["verify_ok"] else "RED"),
    ]  # fmt: skip
    width = max(len(k) for k, _ in lines)
    for key, value in lines:
        print(f"  {key:<{width}}  {value}")
    st = s["settings"]
    print(
        f"  {st['workers']} API workers, {st['users']} paying users, {st['seconds']} s per phase,"
        f" {st['residents']:,} residents, {st['merchants']} shops, pgbench {st['pgbench_clients']}"
        " clients, "
        + ("no campaign" if st["campaign_id"] is None else f"campaign {st['campaign_id']} active")
        + f", payments in flight per worker {st['in_flight'] or 'default'}, queue wait "
        + (f"{st['queue_wait_ms']} ms" if st["queue_wait_ms"] is not None else "default")
        + (
            f", group commit ({st.get('batch_flushers') or 'default'} flushers)"
            if st.get("group_commit", True)
            else ", no group commit"
        )
    )
    if not s["verify_ok"]:
        print(s["verify_report"])


def add_morning_arguments(
    parser: argparse.ArgumentParser, *, residents: int, merchants: int, users: int
) -> None:
    """The options every run of a campaign morning takes (bench and profile alike)."""
    parser.add_argument("--url", default=DEFAULT_URL, help="PostgreSQL server (admin database)")
    parser.add_argument("--redis-url", default=DEFAULT_REDIS, help="a Redis db to flush and use")
    parser.add_argument("--residents", type=int, default=residents)
    parser.add_argument("--merchants", type=int, default=merchants)
    parser.add_argument("--top-up", type=int, default=290_000, help="yen per resident")
    parser.add_argument("--workers", type=int, default=2, help="API worker processes")
    parser.add_argument(
        "--also-paced", type=float, nargs="*", default=[], metavar="SHARE",
        help="paced phases at these shares of the peak too (0.5 0.3), after the 70 %%",
    )  # fmt: skip
    parser.add_argument("--users", type=int, default=users, help="concurrent paying residents")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m loadtest.bench", description=__doc__.split("\n\n")[0]
    )
    add_morning_arguments(parser, residents=10_000, merchants=500, users=64)
    parser.add_argument(
        "--overload-factor",
        type=int,
        default=4,
        help="the overload phase runs this many times --users (issue 20: 4 × 64 = 256)",
    )
    parser.add_argument(
        "--max-retries",
        type=int,
        default=5,
        help="how often a user sends a payment refused as overloaded again (same key)",
    )
    parser.add_argument("--clients", type=int, default=16, help="pgbench clients")
    parser.add_argument("--seconds", type=int, default=30, help="per phase (pgbench too)")
    parser.add_argument(
        "--consumer",
        choices=("worker", "api"),
        default="worker",
        help="analytics consumer in its own `machipay worker` process (as deployed) or in"
        " every API worker",
    )
    parser.add_argument(
        "--no-campaign",
        action="store_true",
        help="launch no campaign: the same morning on a platform without one, to compare",
    )
    parser.add_argument(
        "--in-flight",
        type=int,
        help="MACHIPAY_PAYMENTS_IN_FLIGHT for the server (default: the setting's own default)",
    )
    parser.add_argument(
        "--queue-wait-ms",
        type=int,
        help="MACHIPAY_PAYMENT_QUEUE_WAIT_MS for the server (default: the setting's own)",
    )
    parser.add_argument(
        "--no-group-commit",
        action="store_true",
        help="pay each payment in its own transaction (MACHIPAY_PAYMENT_GROUP_COMMIT=false)",
    )
    parser.add_argument(
        "--batch-flushers",
        type=int,
        help="MACHIPAY_PAYMENT_BATCH_FLUSHERS for the server (default: the setting's own)",
    )
    parser.add_argument(
        "--ledger",
        action="store_true",
        help="also run loadtest.ledger_bench (session, then group commit) in this run",
    )
    parser.add_argument(
        "--group-clients",
        type=int,
        help="--ledger: the group-commit row's clients, against pgbench's --clients (default:"
        " the payments the API workers admit at once, --workers × the in-flight limit)",
    )
    parser.add_argument(
        "--peer",
        type=Path,
        help="also run loadtest.peer_bench against this pgledger checkout (never committed)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the scratch databases")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON too")
    ns = parser.parse_args(argv)
    if ns.group_clients is None:
        ns.group_clients = ns.workers * (ns.in_flight or GROUP_COMMIT_IN_FLIGHT)
    if ns.group_clients < 1:
        parser.error("--group-clients must be >= 1")
    if ns.users * ns.overload_factor > ns.residents:
        parser.error(
            "--users × --overload-factor must not exceed --residents (each user pays from its"
            " own wallet)"
        )
    if not 1 <= ns.overload_factor <= 16 or not 0 <= ns.max_retries <= 20:
        parser.error("--overload-factor must be 1–16 and --max-retries 0–20")
    if not 5 <= ns.seconds <= 600:
        parser.error("--seconds must be between 5 and 600")
    if len(ns.also_paced) > 5 or not all(0.05 <= share < 1 for share in ns.also_paced):
        parser.error("--also-paced takes at most 5 shares, each from 0.05 to below 1")
    ns.residents_cursor = ResidentsCursor()
    return ns


def main(argv: list[str] | None = None) -> int:
    ns = parse_args(argv)
    summary = bench(ns)
    print_table(summary)
    if ns.json:
        print(json.dumps(summary, indent=2, ensure_ascii=False, default=str))
    once = summary["exactly_once"]
    ok = summary["verify_ok"] and summary["spread"]["payments"] and once.get("ok", False)
    side = [summary[k] for k in ("ledger_session", "ledger_group", "peer") if k in summary]
    ok = ok and all(row is not None and row["exit_code"] == 0 for row in side)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
