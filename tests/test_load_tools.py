"""The load-test tools: the synthetic ward (``machipay seed``) and the locust scenario."""

from __future__ import annotations

import asyncio
import csv
import json
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from machipay.spending import HIGHEST, LOWEST, amount_yen
from tests.conftest import free_port, wait_until_serving
from tests.test_cli import MACHIPAY, run_cli, scratch_database  # noqa: F401 - fixture

ROOT = Path(__file__).resolve().parent.parent


def test_amounts_have_a_long_tail_around_fifteen_hundred_yen() -> None:
    rng = random.Random(3)
    amounts = [amount_yen(rng) for _ in range(50_000)]
    assert 1_050 <= statistics.median(amounts) <= 1_150
    assert 1_400 <= statistics.mean(amounts) <= 1_600
    assert sorted(amounts)[int(0.99 * len(amounts))] > 5_000  # the tail
    assert min(amounts) >= LOWEST and max(amounts) <= HIGHEST
    assert all(a % 10 == 0 for a in amounts)


async def test_seed_builds_a_funded_ward_that_verifies(
    scratch_database: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    assert (
        await asyncio.to_thread(run_cli, "migrate", database_url=scratch_database)
    ).returncode == 0
    logins = tmp_path / "seed.json"
    done = await asyncio.to_thread(
        run_cli,
        "seed",
        "--residents",
        "60",
        "--merchants",
        "7",
        "--top-up",
        "5000",
        "--batch",
        "25",
        "--out",
        str(logins),
        database_url=scratch_database,
    )
    assert done.returncode == 0, done.stderr
    assert "seeded 7 shops and 60 residents" in done.stdout
    first = json.loads(logins.read_text())
    assert len(first["residents"]) == 60 and len(first["merchants"]) == 7
    assert len({r["phone"] for r in first["residents"]}) == 60
    # Seeding again adds more, with new phones and shop logins.
    again = await asyncio.to_thread(
        run_cli,
        "seed",
        "--residents",
        "5",
        "--merchants",
        "1",
        "--out",
        str(tmp_path / "more.json"),
        database_url=scratch_database,
    )
    assert again.returncode == 0, again.stderr
    more = json.loads((tmp_path / "more.json").read_text())
    assert not {r["phone"] for r in more["residents"]} & {r["phone"] for r in first["residents"]}
    assert more["merchants"][0]["username"] == "seed-shop-8"
    verified = await asyncio.to_thread(run_cli, "verify", database_url=scratch_database)
    assert verified.returncode == 0, verified.stdout
    assert "entries 65" in verified.stdout  # one top-up each, through the funding path


async def test_the_campaign_morning_mix_runs_against_a_real_server(
    tmp_path: Path,
    scratch_database: str,  # noqa: F811
) -> None:
    """A few seconds of the locust scenario against `machipay serve`: every kind of user
    gets answers, and nothing fails."""
    database = scratch_database
    assert (await asyncio.to_thread(run_cli, "migrate", database_url=database)).returncode == 0
    logins = tmp_path / "seed.json"
    seeded = await asyncio.to_thread(
        run_cli,
        "seed",
        "--residents",
        "30",
        "--merchants",
        "4",
        "--out",
        str(logins),
        database_url=database,
    )
    assert seeded.returncode == 0, seeded.stderr
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MACHIPAY_")}
    env.update(
        MACHIPAY_ENVIRONMENT="development",  # a scratch server on the development secrets
        MACHIPAY_DATABASE_URL=database,
        MACHIPAY_LOG_LEVEL="WARNING",
        MACHIPAY_REQUESTS_PER_IP_PER_MINUTE="1000000",
        # As loadtest/bench.py: a locust user pays non-stop from one wallet.
        MACHIPAY_MONEY_MOVES_PER_ACCOUNT_PER_MINUTE="100000",
    )
    server = subprocess.Popen(  # noqa: ASYNC220 - a long-lived child, polled below
        [*MACHIPAY, "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            ready = await wait_until_serving(client, server, 60)
            assert ready.status_code == 200, ready.text
        load_env = {
            **env,
            "MACHIPAY_LOAD_SEED": str(logins),
            "MACHIPAY_LOAD_MIX": "morning",
            "MACHIPAY_LOAD_HOT_SHARE": "0.3",
        }
        prefix = tmp_path / "run"
        run = await asyncio.to_thread(
            subprocess.run,
            [
                sys.executable,
                "-m",
                "locust",
                "-f",
                str(ROOT / "loadtest" / "locustfile.py"),
                "--host",
                f"http://127.0.0.1:{port}",
                "--headless",
                "-u",
                "8",
                "-r",
                "8",
                "-t",
                "6s",
                "--csv",
                str(prefix),
                "--only-summary",
            ],
            env=load_env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert run.returncode == 0, run.stderr[-3000:]
    finally:
        server.terminate()
        await asyncio.to_thread(server.wait, 30)
    stats = await asyncio.to_thread(Path(f"{prefix}_stats.csv").read_text)
    rows = {r["Name"]: r for r in csv.DictReader(stats.splitlines())}
    assert int(rows["Aggregated"]["Failure Count"]) == 0, rows
    paid = int(rows.get("pay", {}).get("Request Count", 0)) + int(
        rows.get("pay (hot shop)", {}).get("Request Count", 0)
    )
    assert paid > 0, rows
    assert int(rows["sign in"]["Request Count"]) > 0
    assert int(rows["wallet"]["Request Count"]) > 0
    verified = await asyncio.to_thread(run_cli, "verify", database_url=database)
    assert verified.returncode == 0, verified.stdout


def test_profile_folds_each_sample_into_the_layer_that_asked_for_the_work() -> None:
    from loadtest.profile import LAYERS, OTHER, fold_speedscope

    site = "/venv/lib/python3.11/site-packages"
    frames = [
        {"name": "run", "file": f"{site}/uvicorn/server.py"},  # 0
        {"name": "__call__", "file": f"{ROOT}/machipay/metrics.py"},  # 1
        {"name": "solve_dependencies", "file": f"{site}/fastapi/dependencies/utils.py"},  # 2
        {"name": "session_ended", "file": f"{ROOT}/machipay/auth/ended_sessions.py"},  # 3
        {"name": "exists", "file": f"{site}/redis/asyncio/client.py"},  # 4
        {"name": "write", "file": "/usr/lib/x86_64-linux-gnu/libc.so.6"},  # 5
        {"name": "claim", "file": f"{ROOT}/machipay/idempotency.py"},  # 6
        {"name": "sha256", "file": "/usr/lib/python3.11/hashlib.py"},  # 7
        {"name": "execute", "file": f"{site}/sqlalchemy/engine/base.py"},  # 8
        {"name": "sub", "file": "/usr/lib/python3.11/re/__init__.py"},  # 9
        {"name": "<module>", "file": "/usr/lib/python3.11/runpy.py"},  # 10
    ]
    samples = [
        [0, 1, 2, 3, 4],  # a Redis read for the deny-list: the deny-list's
        [0, 1, 2, 3, 4, 5],  # the same, inside write(2): kernel time, counted from stime
        [0, 1, 6, 7],  # hashing the request for idempotency: idempotency's
        [0, 1, 6, 8, 9],  # a regex inside SQLAlchemy, for the claim: SQL's
        [0, 1],  # the metrics middleware's own work
        [10],  # nothing of ours on the stack
    ]
    profile = {
        "shared": {"frames": frames},
        "profiles": [{"samples": samples, "weights": [0.01] * len(samples)}],
    }
    folded = fold_speedscope(profile, ROOT)
    assert folded.samples == 5 and folded.kernel_samples == 1
    assert folded.exclusive == {
        "deny-list (session ended?)": 1,
        "idempotency claim/store": 1,
        "SQL calls (SQLAlchemy, asyncpg)": 1,
        "metrics": 1,
        OTHER: 1,
    }
    assert folded.inclusive["idempotency claim/store"] == 2  # with the SQL it sent
    assert folded.inclusive["ASGI server (uvicorn, httptools, h11)"] == 4
    assert set(folded.exclusive) <= set(LAYERS)


def test_profile_reads_a_process_cpu_from_proc() -> None:
    from loadtest.profile import proc_stat

    before = proc_stat(os.getpid())
    assert before is not None and before[0] == os.getppid()
    deadline = time.process_time() + 0.2
    while time.process_time() < deadline:  # burn 0.2 s of CPU: no wall-clock assert
        pass
    after = proc_stat(os.getpid())
    assert after is not None
    assert after[1] + after[2] - before[1] - before[2] >= 0.1


def test_peer_bench_warms_each_contestant_up_once_and_counts_only_the_rounds() -> None:
    from loadtest.peer_bench import CONTESTANTS, mean_tps, parse_args, schedule, warmup_slots

    planned = schedule(rounds=2, seconds=20, warmup_seconds=7)
    warmups, rounds = planned[:3], planned[3:]
    assert [(s.contestant, s.seconds, s.counted) for s in warmups] == [
        (c, 7, False) for c in CONTESTANTS
    ]
    assert all(s.counted and s.seconds == 20 for s in rounds)
    assert [s.contestant for s in rounds] == [*CONTESTANTS, *CONTESTANTS[::-1]]
    # A warm-up as fast or as slow as it likes moves no mean: only the rounds count.
    tps = [1.0, 1.0, 1.0, 100.0, 200.0, 300.0, 300.0, 300.0, 300.0]  # in the order they ran
    runs = [(s, {"tps": t, "latency_ms": 1.0}) for s, t in zip(planned, tps, strict=True)]
    assert mean_tps(runs) == {"tpcb-like": 200.0, "ours": 250.0, "peer": 300.0}
    assert {c: r["tps"] for c, r in warmup_slots(runs).items()} == dict.fromkeys(CONTESTANTS, 1.0)
    assert all(s.counted for s in schedule(rounds=2, seconds=20, warmup_seconds=0))
    assert len(schedule(rounds=2, seconds=20, warmup_seconds=0)) == 2 * len(CONTESTANTS)
    assert parse_args([]).warmup_seconds > 0  # on unless asked off


async def test_peer_bench_funds_each_resident_by_an_entry_of_its_own(
    scratch_database: str,  # noqa: F811
) -> None:
    """The setup leaves ledger_entries as big as a ledger of 10,000 residents, so the
    foreign-key check of every posting pgbench writes is planned on the primary key; funded
    in 167 entries of 60 legs, the check was planned as a scan of a 2-page table and kept
    that plan while the table grew, and the first slot after funding crawled."""
    import asyncpg

    assert (
        await asyncio.to_thread(run_cli, "migrate", database_url=scratch_database)
    ).returncode == 0
    setup = (ROOT / "loadtest" / "pgbench_ledger_post.sql").read_text()
    assert setup.rstrip().endswith("VACUUM ANALYZE;")  # VACUUM cannot run in a script's block
    conn = await asyncpg.connect(scratch_database.replace("postgresql+asyncpg", "postgresql"))
    try:
        await conn.execute(setup.rstrip().removesuffix("VACUUM ANALYZE;"))
        await conn.execute("VACUUM ANALYZE")
        funded = await conn.fetch(
            "SELECT e.id, count(*) AS legs, sum(p.amount) AS total"
            "  FROM ledger_entries e JOIN ledger_postings p ON p.entry_id = e.id"
            " GROUP BY e.id"
        )
        residents = await conn.fetchval(
            "SELECT count(*) FROM ledger_accounts"
            " WHERE code LIKE 'resident:p%' AND balance = 1000000 AND version = 1"
        )
        plan = await _postings_foreign_key_plan(conn)
    finally:
        await conn.close()
    assert residents == 10_000
    _assert_one_entry_each(funded, plan)


def _assert_one_entry_each(funded: list[Any], plan: str) -> None:
    """10,000 balanced two-leg entries, and the postings' foreign-key check on the key."""
    assert "Index Scan using pk_ledger_entries" in plan, plan
    assert len(funded) == 10_000 and all(f["legs"] == 2 and f["total"] == 0 for f in funded)


async def _postings_foreign_key_plan(conn: Any) -> str:
    """The query PostgreSQL's foreign-key trigger runs for each posting, planned as a
    connection plans it for good once it has run it a few times."""
    await conn.execute("SET plan_cache_mode = force_generic_plan")
    await conn.execute(
        "PREPARE fk_check(bigint) AS SELECT 1 FROM ONLY ledger_entries x"
        " WHERE id OPERATOR(pg_catalog.=) $1 FOR KEY SHARE OF x"
    )
    return "\n".join(r[0] for r in await conn.fetch("EXPLAIN EXECUTE fk_check(1)"))


async def test_ledger_bench_funds_each_account_by_an_entry_of_its_own(
    scratch_database: str,  # noqa: F811
) -> None:
    """``loadtest.ledger_bench`` starts from a ledger-shaped table, as the peer bench does:
    its connections plan the postings' foreign-key check on the primary key (funded 63
    accounts an entry, they scanned a 3-page table and kept doing so as it grew)."""
    import asyncpg

    from loadtest.ledger_bench import FUNDING_YEN, seed_ledger

    assert (
        await asyncio.to_thread(run_cli, "migrate", database_url=scratch_database)
    ).returncode == 0
    await seed_ledger(scratch_database, 10_000)
    conn = await asyncpg.connect(scratch_database.replace("postgresql+asyncpg", "postgresql"))
    try:
        funded = await conn.fetch(
            "SELECT count(*) AS legs, sum(p.amount) AS total FROM ledger_entries e"
            " JOIN ledger_postings p ON p.entry_id = e.id GROUP BY e.id"
        )
        balances = await conn.fetchval(
            "SELECT count(*) FROM ledger_accounts WHERE code LIKE 'resident:bench%'"
            " AND balance = $1",
            FUNDING_YEN,
        )
        plan = await _postings_foreign_key_plan(conn)
    finally:
        await conn.close()
    assert balances == 10_000
    _assert_one_entry_each(funded, plan)


def test_bench_reads_a_histogram_summed_over_workers_and_its_phase_share() -> None:
    from loadtest.bench import histogram_buckets, server_percentiles

    def scrape(fast: int, slow: int) -> str:
        # Two workers' series of one histogram, and another metric's series beside them.
        return "\n".join(
            [
                "# HELP machipay_payment_batch_wait_seconds ...",
                f'machipay_payment_batch_wait_seconds_bucket{{le="0.01",pid="1"}} {fast}',
                f'machipay_payment_batch_wait_seconds_bucket{{le="0.01",pid="2"}} {fast}',
                f'machipay_payment_batch_wait_seconds_bucket{{le="0.25",pid="1"}} {fast + slow}',
                f'machipay_payment_batch_wait_seconds_bucket{{le="0.25",pid="2"}} {fast}',
                f'machipay_payment_batch_wait_seconds_bucket{{le="+Inf",pid="1"}} {fast + slow}',
                f'machipay_payment_batch_wait_seconds_bucket{{le="+Inf",pid="2"}} {fast}',
                'machipay_payment_batch_duration_seconds_bucket{le="0.01"} 999',
            ]
        )

    metric = "machipay_payment_batch_wait_seconds"
    before = histogram_buckets(scrape(10, 0), metric)
    assert before == {0.01: 20.0, 0.25: 20.0, float("inf"): 20.0}
    # In the phase: 100 fast waits per worker and 2 slow ones in worker 1, so the p99 (the
    # 200th of 202) is still fast and nothing reaches past 250 ms.
    after = histogram_buckets(scrape(110, 2), metric)
    share = server_percentiles(before, after)
    assert share == {"requests": 202, "p50_le_ms": 10.0, "p95_le_ms": 10.0, "p99_le_ms": 10.0}
    # Three slow ones of 103: the p99 falls in the 250 ms bucket.
    share = server_percentiles(before, histogram_buckets(scrape(110, 3), metric))
    assert share["p99_le_ms"] == 250.0


@pytest.mark.parametrize(
    ("arrivals", "rate", "check"),
    [
        # A beat's phase: uniform over one interval (0.5 s at 2/s), so the crowd is spread.
        ("paced", "2", "0 <= min(w) < 0.05 and 0.45 < max(w) < 0.5"),
        # A Poisson arrival's first wait: exponential with the rate's mean, some past it.
        ("poisson", "2", "0.4 < sum(w) / len(w) < 0.6 and max(w) > 1.0"),
        # No rate (the peak): pay at once.
        ("paced", "0", "set(w) == {0.0}"),
    ],
)
def test_paced_users_do_not_all_pay_at_the_first_instant(
    tmp_path: Path, arrivals: str, rate: str, check: str
) -> None:
    seed = tmp_path / "seed.json"
    seed.write_text(json.dumps({"password": "x", "residents": [], "merchants": [{}]}))
    shown = subprocess.run(
        [
            sys.executable,
            "-c",
            "from loadtest.locustfile import first_wait;"
            f"w = [first_wait() for _ in range(2000)]; print({check})",
        ],
        env={
            **os.environ,
            "MACHIPAY_LOAD_SEED": str(seed),
            "MACHIPAY_LOAD_PAY_RATE": rate,
            "MACHIPAY_LOAD_ARRIVALS": arrivals,
        },
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert shown.stdout.strip() == "True", shown.stdout + shown.stderr[-2000:]


def test_settled_latency_leaves_out_the_phase_start(tmp_path: Path) -> None:
    from loadtest.bench import settled_latency

    # 100 payments in the first 3 s at 800 ms, then 1,000 at 1..1000 ms.
    early = [[1_000.0 + i * 0.02, 800.0] for i in range(100)]
    later = [[1_003.0 + i * 0.01, float(i + 1)] for i in range(1_000)]
    timeline = tmp_path / "t.json"
    timeline.write_text(json.dumps(early + later))
    found = settled_latency(timeline)
    assert found["settled_p50_ms"] == 501
    assert found["settled_p99_ms"] == 991
    assert found["first_seconds_max_ms"] == 800
    assert settled_latency(tmp_path / "missing.json") == {}


def test_profile_phases_start_past_the_residents_earlier_phases_spent(tmp_path: Path) -> None:
    """loadtest.profile drives locust through bench's invocation: its options carry the
    residents' cursor, and each phase moves it past what the phase spent (session 14's
    cursor first broke the profile, which had none)."""
    from loadtest import profile
    from loadtest.bench import locust_invocation, move_past_spent_residents

    ns = profile.parse_args(["--users", "8", "--py-spy", sys.executable])
    starts = []
    for refused in (0, 3):
        _, env = locust_invocation(
            "http://127.0.0.1:1", tmp_path / "seed.json", ns,
            hot_share=0.0, pay_rate=0.0, prefix=tmp_path / "phase",
        )  # fmt: skip
        starts.append(int(env["MACHIPAY_LOAD_FIRST_RESIDENT"]))
        move_past_spent_residents(ns, {"refused_insufficient": refused})
    assert starts == [0, 8]
    assert ns.residents_cursor.next == 8 + 8 + 3


def test_bench_runs_group_commit_at_the_apis_concurrency_against_pgbench_at_its_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The group-commit row offers as many transfers at once as the API workers admit
    payments (a batch cannot hold more than is in flight), while pgbench keeps the run's
    --clients, as the session row does."""
    from loadtest import bench
    from machipay.settings import GROUP_COMMIT_IN_FLIGHT

    calls: dict[str, list[str]] = {}

    def side_bench(module: str, args: list[str], out_dir: Path, name: str) -> dict[str, Any]:
        calls[name] = args
        return {}

    monkeypatch.setattr(bench, "side_bench", side_bench)

    def option(args: list[str], name: str) -> str:
        return args[args.index(name) + 1]

    ns = bench.parse_args(["--ledger", "--workers", "3"])
    bench.ledger_rows(ns, tmp_path)
    assert option(calls["ledger-session"], "--clients") == "16"
    assert option(calls["ledger-group"], "--clients") == str(3 * GROUP_COMMIT_IN_FLIGHT)
    for args in calls.values():
        assert option(args, "--pgbench-clients") == "16"

    ns = bench.parse_args(["--ledger", "--in-flight", "10", "--group-clients", "40"])
    bench.ledger_rows(ns, tmp_path)
    assert option(calls["ledger-group"], "--clients") == "40"
    assert bench.parse_args(["--in-flight", "10"]).group_clients == 2 * 10


async def test_http_floor_serves_a_bare_and_a_validating_endpoint() -> None:
    """loadtest.http_floor prices the server and the framework alone: its FastAPI route
    validates as ours do (a bad amount or a missing key is refused), the bare one does not."""
    from loadtest.http_floor import FASTAPI_PATH, RAW_PATH, create_app

    # As loadtest/floor_locustfile.py sends (importing it would let locust patch the loop).
    TOKEN, PAYLOAD = "Bearer " + "x" * 332, "000201010211" + "y" * 170

    transport = httpx.ASGITransport(app=create_app())
    headers = {"Authorization": TOKEN, "Idempotency-Key": "k" * 32}
    async with httpx.AsyncClient(transport=transport, base_url="http://floor") as client:
        raw = await client.post(RAW_PATH, json={})
        assert (raw.status_code, raw.json()["amount"]) == (201, 1500)
        ok = await client.post(FASTAPI_PATH, json={"qr_payload": PAYLOAD, "amount": 980},
                               headers=headers)  # fmt: skip
        assert ok.status_code == 201
        assert ok.json() == {"reference": "k" * 32, "amount": 980, "status": "completed"}
        for body, sent in (
            ({"qr_payload": PAYLOAD, "amount": 0}, headers),
            ({"qr_payload": PAYLOAD, "amount": 980}, {"Authorization": TOKEN}),
            ({"qr_payload": PAYLOAD, "amount": 980}, headers | {"Authorization": "Basic x"}),
        ):
            assert (await client.post(FASTAPI_PATH, json=body, headers=sent)).status_code == 422


def test_profile_prices_each_process_in_pgbench_transactions(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """With pgbench measured in the same run, each process's CPU per payment is also given
    in tpcb-like transactions (cores ÷ tps of machine time each), the unit of issue 20's
    ratio target: 0.25 payments per transaction is 4 transactions per payment."""
    from loadtest.profile import print_tables

    summary: dict[str, Any] = {
        "by_process": {
            "payments": 1_000, "elapsed_s": 4.0, "ours_s": 3.0, "machine_busy_s": 3.1,
            "not_ours_s": 0.1, "postgres_other_databases_s": 0.0, "api_kernel_s": 0.2,
            "cpu_s": {"API workers": 2.5, "load generator (locust)": 0.5},
        },
        "pgbench": {"clients": 16, "tps": 4_000.0, "cores": 2},
        "layers": None,
        "phase_a": {"p50_ms": 10, "p99_ms": 20, "failures": 0},
        "verify_ok": True,
    }  # fmt: skip
    print_tables(summary)
    out = capsys.readouterr().out
    assert "one transaction = 0.500 ms of machine" in out
    assert "allows 4 of them (2.00 ms) per payment" in out
    api = next(line for line in out.splitlines() if line.strip().startswith("API workers"))
    assert api.split()[-3:] == ["2.50", "83.3%", "5.00"]  # 2.5 ms = 5 transactions

    summary["pgbench"] = None
    print_tables(summary)
    out = capsys.readouterr().out
    assert "pgbench" not in out
    api = next(line for line in out.splitlines() if line.strip().startswith("API workers"))
    assert api.split()[-2:] == ["2.50", "83.3%"]
