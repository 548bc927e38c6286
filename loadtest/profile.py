"""Where a payment's CPU goes: by process, and inside an API worker by layer.

``python -m loadtest.profile`` answers issue 20's question: of the CPU the machine spends
per HTTP payment, how much is the API workers', PostgreSQL's, the analytics worker's, Redis's
and the load generator's, and inside an API worker, which layer (ASGI server, middlewares,
dependency resolution, JWT, the deny-list, validation, idempotency, SQL calls, JSON, outbox,
SSE publish, logging, metrics, the payment's own logic) takes it?

Steps, on a scratch database dropped at the end (``--keep`` keeps it):

1. migrate, seed ``--residents`` funded residents and ``--merchants`` shops, approve the
   30 % / 5 % campaign (none with ``--no-campaign``) and mint tokens: ``loadtest.bench``'s
   ``prepare``;
2. ``machipay worker`` and ``machipay serve --workers W`` (uvicorn, uvloop), logging at
   ``--log-level`` (INFO, the deployed default, writes an access line per request);
3. an untimed warm-up, then ``ANALYZE`` (as ``loadtest.bench`` does);
4. **phase A, by process** (no profiler attached): ``--users`` residents paying
   non-stop over every shop for ``--seconds``. ``/proc/<pid>/stat`` utime + stime is read
   before and after for the API workers, the worker, every PostgreSQL process (the
   postmaster with its reaped children's time, so backends that came and went are in the
   total; split by ``pg_stat_activity`` into this database's backends, named after the
   process at the other end of their connection (API or worker), the server's own
   processes and other databases'), the Redis server, and the machine (``/proc/stat``);
   the load generator's CPU comes from ``wait4``. Each is divided by the payments the
   database gained in the window;
5. **phase B, by layer**: the same load, with ``py-spy record --gil`` sampling one API
   worker (``--rate`` Hz, ``--native`` so asyncpg's and uvloop's compiled code shows by
   name). Each sample goes to the layer of its innermost frame that belongs to one (a
   frame of redis-py, anyio or the standard library passes its sample to its caller, so a
   Redis read done for the deny-list counts as the deny-list). Samples inside a system
   call are left out: on a busy host a worker that wakes PostgreSQL in ``write(2)`` is
   preempted there holding the GIL, so they measure waiting; the kernel's share is the
   workers' stime from phase A instead, and their utime is split by the layers' shares of
   the other samples. The inclusive column counts a sample for every layer on its stack;
6. ``machipay verify`` on the loaded database.

With ``--pgbench-clients N`` (16 by default; 0 leaves it out), pgbench's tpcb-like script
runs first for ``--seconds`` on a scratch database of its own, before any of our processes
start, and each process's CPU per payment is also given in pgbench transactions: the
machine time one tpcb-like transaction took (cores ÷ tps). Issue 20's "payments/s ÷ pgbench
tps ≥ 0.25" is, on a saturated machine, a payment costing at most 4 of them in all, so the
table shows where that budget goes in a unit that does not drift with the host's speed.

On a host shared with other work, the machine's busy time per payment is larger than the
sum of our processes; the table shows the difference as "not ours". Bounded: each phase
``--seconds`` (5–120), the warm-up at most 10 s, locust stops itself.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import redis

from loadtest.bench import (
    CLK_TCK,
    ResidentsCursor,
    add_morning_arguments,
    free_port,
    locust_invocation,
    locust_results,
    machine_busy_s,
    machipay_verify,
    move_past_spent_residents,
    prepare,
    say,
    server_env,
    start_server,
)
from loadtest.ledger_bench import admin_execute, database_url, run_pgbench
from machipay.migrate import upgrade

DEFAULT_REDIS = "redis://127.0.0.1:6379/7"

# Layers in the order the table prints them. A frame's layer is the first rule that matches
# its module path (site-packages/…, the repository's own packages, or the standard library);
# TRANSPARENT frames hand their sample to their caller.
TRANSPARENT = ""
LAYER_RULES: tuple[tuple[str, tuple[str, ...]], ...] = (
    # Clients and helpers that work for whoever calls them: a Redis read done for the
    # deny-list is the deny-list's cost, a hash done for the idempotency key is idempotency's.
    (TRANSPARENT, ("redis/", "machipay/cache", "anyio/", "sniffio/", "hashlib", "hmac")),
    ("idempotency claim/store", ("machipay/idempotency",)),
    ("JWT", ("machipay/auth/tokens", "jwt/")),
    ("deny-list (session ended?)", ("machipay/auth/ended_sessions",)),
    ("rate limit", ("machipay/ratelimits",)),
    ("outbox", ("machipay/outbox",)),
    ("live/SSE publish", ("payments/live", "machipay/events")),
    ("metrics", ("machipay/metrics", "prometheus_client/")),
    ("logging", ("logging/", "machipay/logging")),
    (
        "SQL calls (SQLAlchemy, asyncpg)",
        ("sqlalchemy/", "asyncpg", "machipay/hotsql", "machipay/db"),
    ),
    ("JSON", ("json/", "orjson", "fastapi/encoders", "_json")),
    ("validation (pydantic)", ("pydantic", "fastapi/_compat", "annotated_types")),
    (
        "dependency resolution",
        (
            "fastapi/dependencies/",
            "fastapi/security/",
            "fastapi/params",
            "machipay/deps",
            "machipay/auth/deps",
        ),
    ),
    (
        "middlewares",
        (
            "starlette/middleware/",
            "starlette/_exception_handler",
            "machipay/security_headers",
            "machipay/requestlog",
            "starlette/applications",
            "fastapi/applications",
        ),
    ),
    ("routing, request/response (Starlette, FastAPI)", ("starlette/", "fastapi/")),
    ("ASGI server (uvicorn, httptools, h11)", ("uvicorn/", "httptools", "h11/")),
    ("event loop (uvloop, asyncio)", ("uvloop", "asyncio/", "libuv", "selectors")),
    (
        "our other code (payments, campaigns, ledger, QR, machipay)",
        (
            "payments/",
            "campaigns/",
            "ledger/",
            "wallet_api/",
            "merchant_api/",
            "identity/",
            "ward/",
            "settlement/",
            "analytics/",
            "desk/",
            "web/",
            "assembly/",
            "machipay/",
        ),
    ),
)
OTHER = "interpreter, standard library, GC"
LAYERS = (*(name for name, _ in LAYER_RULES if name), OTHER)
_SITE = re.compile(r".*/(?:site|dist)-packages/")
_STDLIB = re.compile(r".*/lib/python3\.\d+/")


def module_path(file: str, repo: Path) -> str:
    """site-packages/x/y.py → x/y.py; <repo>/payments/x.py → payments/x.py; stdlib → json/…"""
    if file.startswith(str(repo) + "/"):
        return file[len(str(repo)) + 1 :]
    for pattern in (_SITE, _STDLIB):
        match = pattern.match(file)
        if match:
            return file[match.end() :]
    return file


def frame_layer(file: str, name: str, repo: Path) -> str | None:
    """The frame's layer, TRANSPARENT, or None for a frame no rule knows (also transparent:
    a standard-library helper counts for whoever called it)."""
    path = module_path(file, repo)
    for layer, needles in LAYER_RULES:
        # A native frame (--native) may name its Cython module only in its function name.
        if any(needle in path or needle in name for needle in needles):
            return layer
    return None


# A sample whose innermost frame is one of these is the kernel's time (the process's stime),
# which /proc measures directly: such samples are left out of the user-time shares.
_SYSCALL = re.compile(
    r"^(__libc_|__GI___libc_|__)?(read|readv|write|writev|send|sendto|sendmsg|recv|recvfrom|"
    r"recvmsg|epoll_wait|epoll_pwait|epoll_ctl|poll|select|accept4?|close|ioctl|futex)$"
)


@dataclass
class Folded:
    samples: int  # GIL-holding samples of user code
    kernel_samples: int  # innermost frame a system call: counted by stime instead
    exclusive: Counter[str]
    inclusive: Counter[str]
    threads: int


def fold_speedscope(profile: dict[str, Any], repo: Path) -> Folded:
    frames = profile["shared"]["frames"]
    layer_of = [frame_layer(f.get("file") or "", f.get("name") or "", repo) for f in frames]
    syscall = [bool(_SYSCALL.match(f.get("name") or "")) for f in frames]
    exclusive: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = kernel = 0
    for thread in profile["profiles"]:
        for stack in thread["samples"]:  # each py-spy sample weighs 1 / rate
            if stack and syscall[stack[-1]]:
                kernel += 1
                continue
            total += 1
            owner = OTHER
            for index in reversed(stack):  # speedscope stacks are root first
                if layer_of[index]:
                    owner = layer_of[index] or OTHER
                    break
            exclusive[owner] += 1
            for layer in {layer_of[i] or OTHER for i in stack if layer_of[i]}:
                inclusive[layer] += 1
    return Folded(total, kernel, exclusive, inclusive, len(profile["profiles"]))


# --- CPU by process, from /proc ------------------------------------------------------------


def proc_stat(pid: int) -> tuple[int, float, float, float] | None:
    """(parent pid, user CPU s, system CPU s, reaped children's CPU s), or None if gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2 :].split()
    ppid = int(fields[1])
    utime, stime, cutime, cstime = (int(x) for x in fields[11:15])
    return ppid, utime / CLK_TCK, stime / CLK_TCK, (cutime + cstime) / CLK_TCK


def all_pids() -> list[int]:
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


def group_pids(pgid: int) -> list[int]:
    found = []
    for pid in all_pids():
        try:
            if os.getpgid(pid) == pgid:
                found.append(pid)
        except ProcessLookupError:
            continue
    return found


def comm_pids(comm: str) -> list[int]:
    found = []
    for pid in all_pids():
        try:
            if Path(f"/proc/{pid}/comm").read_text().strip() == comm:
                found.append(pid)
        except OSError:
            continue
    return found


def cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


@dataclass
class Snapshot:
    api: dict[int, float]
    api_system: dict[int, float]  # the API workers' kernel time alone
    worker: dict[int, float]
    redis: dict[int, float]
    pg: dict[int, float]  # postmaster's children
    pg_kind: dict[int, str]  # "api" / "worker" / "ours" / "server" / "other"
    postmaster: float  # its own + reaped children's
    machine: float
    payments: int


def socket_owners(owners: dict[str, list[int]]) -> dict[int, str]:
    """Local TCP port → which of our processes holds that socket (from /proc/net/tcp*)."""
    inode_owner = {}
    for owner, pids in owners.items():
        for pid in pids:
            try:
                links = [
                    os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")
                ]
            except OSError:
                continue
            for link in links:
                if link.startswith("socket:["):
                    inode_owner[link[8:-1]] = owner
    ports = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[9] in inode_owner:
                ports[int(fields[1].rsplit(":", 1)[1], 16)] = inode_owner[fields[9]]
    return ports


async def pg_processes(
    admin: asyncpg.Connection, database: str, clients: dict[str, list[int]]
) -> tuple[int, dict[int, str]]:
    """The postmaster's pid and each live server process's kind: a backend of this database
    is named after the process at the other end of its connection (API or worker)."""
    rows = await admin.fetch("SELECT pid, datname, backend_type, client_port FROM pg_stat_activity")
    by_port = socket_owners(clients)
    me = await admin.fetchval("SELECT pg_backend_pid()")
    stat = proc_stat(me)
    if stat is None:
        raise RuntimeError("the PostgreSQL server is not on this machine: cannot read its CPU")
    kinds = {}
    for row in rows:
        if row["datname"] == database:
            kinds[row["pid"]] = by_port.get(row["client_port"], "ours")
        elif row["datname"] is None and row["backend_type"] != "client backend":
            kinds[row["pid"]] = "server"
        else:
            kinds[row["pid"]] = "other"
    return stat[0], kinds


def cpu_of(pids: list[int], *, system_only: bool = False) -> dict[int, float]:
    out = {}
    for pid in pids:
        stat = proc_stat(pid)
        if stat is not None:
            out[pid] = stat[2] if system_only else stat[1] + stat[2]
    return out


async def snapshot(
    admin: asyncpg.Connection, app: asyncpg.Connection, database: str, server: int, worker: int
) -> Snapshot:
    api = [pid for pid in group_pids(server) if b"resource_tracker" not in cmdline(pid)]
    workers = group_pids(worker)
    postmaster, kinds = await pg_processes(admin, database, {"api": api, "worker": workers})
    children = [pid for pid in all_pids() if (proc_stat(pid) or (0,))[0] == postmaster]
    master = proc_stat(postmaster)
    assert master is not None
    return Snapshot(
        api=cpu_of(api),
        api_system=cpu_of(api, system_only=True),
        worker=cpu_of(workers),
        redis=cpu_of(comm_pids("redis-server")),
        pg=cpu_of(children),
        pg_kind={pid: kinds.get(pid, "server") for pid in children},
        postmaster=master[1] + master[2] + master[3],
        machine=machine_busy_s(),
        payments=int(await app.fetchval("SELECT count(*) FROM payments")),
    )


def delta(after: dict[int, float], before: dict[int, float]) -> float:
    # A process that started inside the window spent all its CPU inside it.
    return sum(cpu - before.get(pid, 0.0) for pid, cpu in after.items())


def by_process(before: Snapshot, after: Snapshot, load_generator_s: float) -> dict[str, Any]:
    pg_total = delta(after.pg, before.pg) + after.postmaster - before.postmaster
    pg_kind = dict.fromkeys(("api", "worker", "ours", "server"), 0.0)
    for pid, cpu in after.pg.items():
        kind = after.pg_kind[pid]
        if kind in pg_kind:
            pg_kind[kind] += cpu - before.pg.get(pid, 0.0)
    seconds = {
        "API workers": delta(after.api, before.api),
        "PostgreSQL: backends serving the API workers": pg_kind["api"],
        "PostgreSQL: backends serving the analytics worker": pg_kind["worker"],
        "PostgreSQL: this database's other backends (autovacuum…)": pg_kind["ours"],
        "PostgreSQL: server processes (WAL writer, checkpointer, autovacuum launcher…)": (
            pg_kind["server"]
        ),
        "analytics worker (machipay worker)": delta(after.worker, before.worker),
        "Redis server": delta(after.redis, before.redis),
        "load generator (locust)": load_generator_s,
    }
    payments = after.payments - before.payments
    ours = sum(seconds.values())
    machine = after.machine - before.machine
    return {
        "payments": payments,
        "cpu_s": seconds,
        "postgres_other_databases_s": pg_total - sum(pg_kind.values()),
        "api_kernel_s": delta(after.api_system, before.api_system),
        "ours_s": ours,
        "machine_busy_s": machine,
        "not_ours_s": machine - ours,
    }


# --- the phases ----------------------------------------------------------------------------


def run_phase(
    host: str,
    seed_file: Path,
    ns: argparse.Namespace,
    label: str,
    out_dir: Path,
    *,
    seconds: int,
    profile_pid: int | None = None,
) -> tuple[dict[str, Any], float, Path | None]:
    """One locust phase: its results, the locust process's CPU seconds and the py-spy
    profile, if one was recorded."""
    phase_ns = argparse.Namespace(**{**vars(ns), "seconds": seconds})
    prefix = out_dir / label
    command, env = locust_invocation(
        host, seed_file, phase_ns, hot_share=0.0, pay_rate=0.0, prefix=prefix
    )
    spy, spy_out = None, None
    if profile_pid is not None:
        spy_out = out_dir / f"{label}.speedscope.json"
        spy_command = [
            ns.py_spy, "record", "--pid", str(profile_pid), "--rate", str(ns.rate),
            "--duration", str(max(1, seconds - 2)), "--format", "speedscope",
            "--output", str(spy_out), "--nonblocking" if ns.nonblocking else "",
            "--native" if ns.native else "", "--gil",
        ]  # fmt: skip
        spy = subprocess.Popen(
            [part for part in spy_command if part],
            stdout=subprocess.DEVNULL,
            stderr=(out_dir / f"{label}.py-spy.log").open("wb"),
        )
    locust = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + seconds + 60
    while True:  # wait4 gives this one child's CPU (os.times would add py-spy's)
        pid, status, usage = os.wait4(locust.pid, os.WNOHANG)
        if pid:
            locust.returncode = os.waitstatus_to_exitcode(status)
            break
        if time.monotonic() > deadline:
            locust.kill()
        time.sleep(0.2)
    if spy is not None:
        spy.wait(timeout=60)
    results = locust_results(prefix, label)
    move_past_spent_residents(ns, results)
    return results, usage.ru_utime + usage.ru_stime, spy_out


async def connect_pair(ns: argparse.Namespace, app_db: str) -> tuple[Any, Any]:
    admin = await asyncpg.connect(database_url(ns.url, "postgres", "postgresql"))
    app = await asyncpg.connect(database_url(ns.url, app_db, "postgresql"))
    return admin, app


def measure_pgbench(ns: argparse.Namespace, tag: str) -> float | None:
    """pgbench tpcb-like on a scratch database, before any of our processes run."""
    if not ns.pgbench_clients:
        return None
    database = f"machipay_pgbench_{tag}"
    say(f"pgbench tpcb-like, scale 10, {ns.pgbench_clients} clients, {ns.seconds} s")
    asyncio.run(admin_execute(ns.url, f'CREATE DATABASE "{database}"'))
    try:
        asyncio.run(admin_execute(ns.url, "CHECKPOINT"))
        tps = run_pgbench(ns.url, database, ns.pgbench_clients, ns.seconds)
    finally:
        asyncio.run(admin_execute(ns.url, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
    say(f"pgbench: {tps:,.0f} tps")
    return tps


def profile(ns: argparse.Namespace) -> dict[str, Any]:
    tag = uuid.uuid4().hex[:10]
    app_db = f"machipay_profile_{tag}"
    url = database_url(ns.url, app_db)
    out_dir = Path(tempfile.mkdtemp(prefix="machipay-profile-"))
    seed_file = out_dir / "seed.json"
    server: subprocess.Popen[bytes] | None = None
    consumer: subprocess.Popen[bytes] | None = None
    asyncio.run(admin_execute(ns.url, f'CREATE DATABASE "{app_db}"'))
    loop = asyncio.new_event_loop()
    admin = app = None
    try:
        upgrade(url)
        campaign_id = asyncio.run(prepare(url, ns, seed_file))
        app_admin = database_url(ns.url, app_db, "postgresql")
        asyncio.run(admin_execute(app_admin, "VACUUM ANALYZE"))
        pgbench_tps = measure_pgbench(ns, tag)
        redis.Redis.from_url(ns.redis_url).flushdb()
        env = {"MACHIPAY_LOG_LEVEL": ns.log_level}
        if ns.no_group_commit:
            env["MACHIPAY_PAYMENT_GROUP_COMMIT"] = "false"
        consumer = subprocess.Popen(
            [sys.executable, "-m", "assembly", "worker"],
            env={**server_env(url, ns.redis_url), **env},
            stdout=subprocess.DEVNULL,
            stderr=(out_dir / "worker.log").open("wb"),
            start_new_session=True,
        )
        port = free_port()
        server = start_server(
            url, ns.redis_url, port, ns.workers, consumer_in_api=False,
            env_overrides=env, log_file=out_dir / "server.log",
        )  # fmt: skip
        host = f"http://127.0.0.1:{port}"
        say(f"warm-up ({ns.warmup} s), then ANALYZE")
        run_phase(host, seed_file, ns, "warm-up", out_dir, seconds=ns.warmup)
        asyncio.run(admin_execute(app_admin, "ANALYZE"))

        admin, app = loop.run_until_complete(connect_pair(ns, app_db))
        say(f"phase A: CPU by process, {ns.users} users, {ns.seconds} s")
        before = loop.run_until_complete(snapshot(admin, app, app_db, server.pid, consumer.pid))
        started = time.perf_counter()
        phase_a, locust_cpu, _ = run_phase(host, seed_file, ns, "by-process", out_dir,
                                           seconds=ns.seconds)  # fmt: skip
        elapsed_a = time.perf_counter() - started
        after = loop.run_until_complete(snapshot(admin, app, app_db, server.pid, consumer.pid))
        processes = by_process(before, after, locust_cpu)
        processes["elapsed_s"] = elapsed_a
        say(f"phase A: {processes['payments']} payments in {elapsed_a:.1f} s")

        workers = sorted(pid for pid in after.api if pid != server.pid)  # not the supervisor
        say(f"phase B: py-spy on API worker {workers[0]} at {ns.rate} Hz, {ns.seconds} s")
        asyncio.run(admin_execute(app_admin, "ANALYZE"))
        b_before = loop.run_until_complete(app.fetchval("SELECT count(*) FROM payments"))
        phase_b, _, spy_out = run_phase(host, seed_file, ns, "by-layer", out_dir,
                                        seconds=ns.seconds, profile_pid=workers[0])  # fmt: skip
        b_payments = loop.run_until_complete(app.fetchval("SELECT count(*) FROM payments"))
        folded = None
        if spy_out is not None and spy_out.exists():
            repo = Path(__file__).resolve().parent.parent
            folded = fold_speedscope(json.loads(spy_out.read_text()), repo)
        else:
            say(f"py-spy wrote no profile: {(out_dir / 'by-layer.py-spy.log').read_text()}")
    finally:
        for conn in (admin, app):
            if conn is not None:
                loop.run_until_complete(conn.close())
        loop.close()
        for process in (server, consumer):
            if process is not None:
                os.killpg(process.pid, signal.SIGTERM)
                process.wait(timeout=30)
    say("machipay verify on the loaded database")
    verified, report = machipay_verify(url)
    if not ns.keep:
        asyncio.run(admin_execute(ns.url, f'DROP DATABASE IF EXISTS "{app_db}" WITH (FORCE)'))
        shutil.rmtree(out_dir, ignore_errors=True)
    return {
        "settings": {
            "residents": ns.residents, "merchants": ns.merchants, "workers": ns.workers,
            "users": ns.users, "seconds": ns.seconds, "rate_hz": ns.rate, "native": ns.native,
            "log_level": ns.log_level, "campaign_id": campaign_id,
        },
        "by_process": processes,
        "pgbench": None if pgbench_tps is None else {
            "clients": ns.pgbench_clients, "tps": pgbench_tps, "cores": os.cpu_count() or 1,
        },
        "phase_a": phase_a,
        "phase_b": {**phase_b, "payments_in_db": int(b_payments) - int(b_before)},
        "layers": None if folded is None else {
            "samples": folded.samples, "kernel_samples": folded.kernel_samples,
            "threads": folded.threads,
            "exclusive": dict(folded.exclusive), "inclusive": dict(folded.inclusive),
        },
        "verify_ok": verified,
        "verify_report": report,
        "kept": {"database": app_db, "files": str(out_dir)} if ns.keep else None,
    }  # fmt: skip


def print_tables(s: dict[str, Any]) -> None:
    proc = s["by_process"]
    n = proc["payments"] or 1
    total = proc["ours_s"]

    bench = s.get("pgbench")
    # Machine seconds one tpcb-like transaction took: the yardstick's unit.
    tx_s = bench["cores"] / bench["tps"] if bench else None

    def row(name: str, seconds: float, share: bool = True) -> None:
        percent = f"{100 * seconds / total:>5.1f}%" if share else ""
        in_tx = f"{seconds / n / tx_s:>11.2f}" if tx_s else ""
        print(f"  {name:<78} {1000 * seconds / n:>10.2f} {percent:>6}{in_tx}")

    rate = proc["payments"] / proc["elapsed_s"]
    print(f"\nCPU per payment by process (phase A: {proc['payments']:,} payments, {rate:.0f}/s)")
    if bench and tx_s:
        print(
            f"  pgbench tpcb-like: {bench['tps']:,.0f} tps with {bench['clients']} clients on"
            f" {bench['cores']} cores, so one transaction = {1000 * tx_s:.3f} ms of machine;"
            f" payments/s ÷ tps ≥ 0.25 allows 4 of them ({4000 * tx_s:.2f} ms) per payment"
        )
    tx_head = f" {'pgbench tx':>10}" if tx_s else ""
    print(f"  {'process':<78} {'ms/payment':>10} {'%':>6}{tx_head}")
    for name, seconds in proc["cpu_s"].items():
        row(name, seconds)
    row("all of ours", total)
    row("machine busy (all processes, /proc/stat)", proc["machine_busy_s"], share=False)
    row("  of which not ours (other work on a shared host)", proc["not_ours_s"], share=False)
    row(
        "  PostgreSQL backends of other databases (in the line above)",
        proc["postgres_other_databases_s"],
        share=False,
    )
    layers = s["layers"]
    if layers and layers["samples"]:
        api_ms = 1000 * proc["cpu_s"]["API workers"] / n
        kernel_ms = 1000 * proc["api_kernel_s"] / n
        user_ms = api_ms - kernel_ms
        b = s["phase_b"]
        print(
            f"\nAn API worker's {api_ms:.2f} ms per payment by layer: {kernel_ms:.2f} ms kernel"
            f" (/proc stime), {user_ms:.2f} ms user split by py-spy ({layers['samples']:,}"
            f" GIL-holding samples at {s['settings']['rate_hz']} Hz, {layers['kernel_samples']}"
            f" more in system calls; {b['payments_per_s']:.0f} payments/s under the profiler)"
        )
        print(f"  {'layer':<58} {'ms/payment':>10} {'%':>6} {'inclusive %':>12}")
        print(f"  {'kernel: system calls (sockets, epoll), from stime':<58} {kernel_ms:>10.2f}"
              f" {100 * kernel_ms / api_ms:>5.1f}%")  # fmt: skip
        for layer in sorted(LAYERS, key=lambda x: -layers["exclusive"].get(x, 0)):
            share = layers["exclusive"].get(layer, 0) / layers["samples"]
            incl = layers["inclusive"].get(layer, 0) / layers["samples"]
            incl_text = f"{100 * incl:>11.1f}%" if layer != OTHER else f"{'':>12}"
            ms = user_ms * share
            print(f"  {layer:<58} {ms:>10.2f} {100 * ms / api_ms:>5.1f}% {incl_text}")
    a = s["phase_a"]
    print(
        f"\n  phase A p50 / p99 {a['p50_ms']} / {a['p99_ms']} ms, {a['failures']} errors;"
        f" machipay verify {'green' if s['verify_ok'] else 'RED'}"
    )
    if not s["verify_ok"]:
        print(s["verify_report"])


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m loadtest.profile", description=__doc__.split("\n\n")[0]
    )
    add_morning_arguments(parser, residents=2_000, merchants=200, users=32)
    parser.add_argument("--seconds", type=int, default=20, help="per phase")
    parser.add_argument("--warmup", type=int, default=8, help="untimed warm-up seconds")
    parser.add_argument(
        "--max-retries", type=int, default=5, help="resends of a payment refused as overloaded"
    )
    parser.add_argument("--rate", type=int, default=100, help="py-spy samples per second")
    beside = Path(sys.executable).parent / "py-spy"  # the [dev] extra installs it there
    parser.add_argument(
        "--py-spy", default=str(beside) if beside.exists() else shutil.which("py-spy") or "py-spy"
    )
    parser.add_argument(
        "--native", action=argparse.BooleanOptionalAction, default=True,
        help="py-spy --native: name compiled frames (asyncpg, uvloop, pydantic-core)",
    )  # fmt: skip
    parser.add_argument(
        "--nonblocking", action="store_true",
        help="py-spy without pausing the worker at each sample (less overhead, torn stacks)",
    )  # fmt: skip
    parser.add_argument(
        "--log-level", default="INFO", choices=("DEBUG", "INFO", "WARNING", "ERROR"),
        help="the server's (INFO, the default setting, logs every request)",
    )  # fmt: skip
    parser.add_argument("--no-campaign", action="store_true", help="launch no campaign")
    parser.add_argument(
        "--pgbench-clients", type=int, default=16,
        help="run pgbench tpcb-like first and price each process in its transactions (0: no)",
    )  # fmt: skip
    parser.add_argument(
        "--no-group-commit",
        action="store_true",
        help="pay each payment in its own transaction (MACHIPAY_PAYMENT_GROUP_COMMIT=false)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the database and files")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON too")
    ns = parser.parse_args(argv)
    if ns.users > ns.residents:
        parser.error("--users must not exceed --residents (each user pays from its own wallet)")
    if not 5 <= ns.seconds <= 120 or not 1 <= ns.warmup <= 10:
        parser.error("--seconds must be between 5 and 120, --warmup between 1 and 10")
    if not 0 <= ns.pgbench_clients <= 256:
        parser.error("--pgbench-clients must be between 0 and 256")
    if not 10 <= ns.rate <= 1000:
        parser.error("--rate must be between 10 and 1000 Hz")
    if shutil.which(ns.py_spy) is None:
        parser.error(f"py-spy not found ({ns.py_spy}): pip install py-spy, or pass --py-spy PATH")
    ns.residents_cursor = ResidentsCursor()
    return ns


def main(argv: list[str] | None = None) -> int:
    ns = parse_args(argv)
    summary = profile(ns)
    print_tables(summary)
    if ns.json:
        print(json.dumps(summary, indent=2, ensure_ascii=False, default=str))
    return 0 if summary["verify_ok"] and summary["by_process"]["payments"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
