"""Our ``ledger_post`` against pgbench tpcb-like and against a peer ledger, all from pgbench.

``python -m loadtest.peer_bench`` prices the ledger's database side alone, with no Python
in the way: pgbench's C client drives three contestants on the same server with the same
clients and duration, one at a time:

* **tpcb-like**: pgbench's own write transaction (scale 10), the machine's yardstick;
* **ours**: ``ledger_post`` for a two-leg transfer between two of 10,000 residents, each
  funded by an entry of its own (``loadtest/pgbench_ledger_post.sql`` sets the database up
  and says why an entry each, ``.pgb`` is the script);
* **peer**: `pgledger <https://github.com/pgr0ss/pgledger>`_'s ``pgledger_create_transfer``,
  a ledger written in PL/pgSQL, between two of 10,000 funded accounts of its own.

pgledger's SQL is read from a checkout given by ``--pgledger`` (its ``pgledger.sql`` and
the vendored ULID functions it needs) and installed into a scratch database at run time;
none of it is part of this repository. Both ledger scripts send the call alone (the
function's statement is its transaction), pick two distinct random accounts and ¥1–¥500.

Before the measured rounds each contestant runs one warm-up slot of its own
(``--warmup-seconds``, default 10, 0 for none): the same clients and script, printed and
kept in ``--json-out`` under ``warmup`` but never counted: the first slot on a freshly
filled database pays for what no later slot does (cold caches, the tables' first growth),
and without it that cost fell on whichever contestant ran first. The disk's commit
latency drifts from minute to minute here, so one slot says little: the contestants then
run in ``--rounds`` rounds of alternating order (tpcb, ours, peer; then peer, ours, tpcb;
…), each slot (warm-up or not) after ``VACUUM ANALYZE`` of its database and a
``CHECKPOINT``, and the ratios are of the contestants' mean tps over the measured rounds.
The books are checked afterwards (``verify_ledger``'s balance checks for ours: pgbench writes
placeholder hashes; the peer's balances must sum to zero) and the scratch databases are dropped.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import re
import subprocess
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from statistics import mean

import asyncpg
from sqlalchemy.engine import make_url

from loadtest.ledger_bench import admin_execute, database_url, verify
from machipay.migrate import upgrade

DEFAULT_URL = "postgresql://root@127.0.0.1:5432/postgres"
DEFAULT_PGLEDGER = "/work/peer/pgledger"
HERE = Path(__file__).resolve().parent
ACCOUNTS = 10_000  # as loadtest/pgbench_ledger_post.sql opens them
TPS_LINE = re.compile(r"^tps = ([0-9.]+) \(without initial connection time\)", re.MULTILINE)
LATENCY_LINE = re.compile(r"^latency average = ([0-9.]+) ms", re.MULTILINE)
CONTESTANTS = ("tpcb-like", "ours", "peer")

# The peer's accounts carry ids of pgledger's own shape and length (pgla_ + 26 characters)
# that pgbench can name by number; the funding goes through pgledger's transfer function.
PEER_SETUP = f"""
SELECT id FROM pgledger_create_account('bank:settlement', 'JPY', true, true);
SELECT count(*) FROM generate_series(1, {ACCOUNTS}) AS i,
    LATERAL pgledger_create_account('resident:p' || i, 'JPY', false, true);
UPDATE pgledger_accounts
   SET id = 'pgla_' || lpad(substring(name FROM 'resident:p([0-9]+)'), 26, '0')
 WHERE name LIKE 'resident:p%';
DO $$
DECLARE
    bank text := (SELECT id FROM pgledger_accounts WHERE name = 'bank:settlement');
BEGIN
    FOR i IN 1..{ACCOUNTS} LOOP
        PERFORM pgledger_create_transfer(bank, 'pgla_' || lpad(i::text, 26, '0'), 1000000);
    END LOOP;
END $$;
"""
PEER_SCRIPT = f"""\\set a random(1, {ACCOUNTS})
\\set b random(1, {ACCOUNTS})
\\set amt random(1, 500)
SELECT * FROM pgledger_create_transfer('pgla_' || lpad(:a::text, 26, '0'), 'pgla_' || lpad((CASE WHEN :a = :b THEN (:b % {ACCOUNTS}) + 1 ELSE :b END)::text, 26, '0'), :amt);
"""  # noqa: E501 - one pgbench command is one line


def connection_args(base: str, database: str) -> list[str]:
    url = make_url(base)
    return [
        "-h", url.host or "127.0.0.1", "-p", str(url.port or 5432),
        "-U", url.username or "postgres", database,
    ]  # fmt: skip


def run(command: list[str]) -> str:
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command[:3])} failed:\n{done.stderr[-3000:]}")
    return done.stdout


def psql_files(base: str, database: str, *files: Path, atomic: bool = True) -> None:
    command = ["psql", "-q", "-X", "-v", "ON_ERROR_STOP=1"]
    command += ["--single-transaction"] if atomic else []
    for file in files:
        command += ["-f", str(file)]
    run(command + connection_args(base, database))


def peer_sources(checkout: Path) -> list[Path]:
    """pgledger.sql and the ULID functions it calls, in the order its justfile loads them."""
    vendor = checkout / "vendor" / "scoville-pgsql-ulid"
    files = [vendor / "ulid-to-uuid.sql", vendor / "uuid-to-ulid.sql", checkout / "pgledger.sql"]
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise SystemExit(f"not a pgledger checkout (missing {', '.join(missing)})")
    return files


def prepare(ns: argparse.Namespace, names: dict[str, str], work: Path) -> dict[str, Path]:
    """Create and fill the three scratch databases; returns each contestant's script."""
    run(["pgbench", "-i", "-q", "-s", "10", *connection_args(ns.url, names["tpcb-like"])])
    upgrade(database_url(ns.url, names["ours"]))
    psql_files(ns.url, names["ours"], HERE / "pgbench_ledger_post.sql", atomic=False)  # VACUUMs
    setup = work / "peer_setup.sql"
    setup.write_text(PEER_SETUP)
    psql_files(ns.url, names["peer"], *peer_sources(ns.pgledger), setup)
    peer_script = work / "pgbench_pgledger_transfer.pgb"
    peer_script.write_text(PEER_SCRIPT)
    tpcb_script = work / "tpcb-like"  # pgbench's built-in, named with -b
    return {"tpcb-like": tpcb_script, "ours": HERE / "pgbench_ledger_post.pgb", "peer": peer_script}


@dataclass(frozen=True)
class Slot:
    """One pgbench run of one contestant; a warm-up is run and shown but never counted."""

    label: str  # "warm-up" or "round N"
    contestant: str
    seconds: int
    counted: bool


Result = dict[str, float]  # "tps", "latency_ms"


def orders(rounds: int) -> list[tuple[str, ...]]:
    return [CONTESTANTS if r % 2 == 0 else CONTESTANTS[::-1] for r in range(rounds)]


def schedule(rounds: int, seconds: int, warmup_seconds: int) -> list[Slot]:
    """A warm-up slot per contestant (none if ``warmup_seconds`` is 0), then the rounds."""
    warmups = [Slot("warm-up", c, warmup_seconds, counted=False) for c in CONTESTANTS]
    measured = [
        Slot(f"round {n}", c, seconds, counted=True)
        for n, order in enumerate(orders(rounds), start=1)
        for c in order
    ]
    return (warmups if warmup_seconds else []) + measured


def measured_slots(runs: list[tuple[Slot, Result]]) -> dict[str, list[Result]]:
    """Each contestant's counted slots, in the order they ran: what the means are of."""
    return {c: [r for s, r in runs if s.counted and s.contestant == c] for c in CONTESTANTS}


def warmup_slots(runs: list[tuple[Slot, Result]]) -> dict[str, Result]:
    return {s.contestant: r for s, r in runs if not s.counted}


def mean_tps(runs: list[tuple[Slot, Result]]) -> dict[str, float]:
    return {c: mean(r["tps"] for r in rs) for c, rs in measured_slots(runs).items()}


def run_slot(ns: argparse.Namespace, planned: Slot, database: str, script: Path) -> Result:
    contestant = planned.contestant
    db_url = database_url(ns.url, database, "postgresql")
    asyncio.run(admin_execute(db_url, "VACUUM ANALYZE"))
    asyncio.run(admin_execute(db_url, "CHECKPOINT"))
    which = ["-b", "tpcb-like"] if contestant == "tpcb-like" else ["-f", str(script)]
    command = [
        "pgbench", "-n", "-c", str(ns.clients), "-j", str(ns.jobs), "-T", str(planned.seconds),
        *which, *connection_args(ns.url, database),
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    tps, latency = TPS_LINE.search(done.stdout), LATENCY_LINE.search(done.stdout)
    # pgbench ends a client at its first error; a slot with one is not a fair figure.
    if done.returncode != 0 or tps is None or latency is None or "aborted" in done.stderr:
        raise RuntimeError(f"{contestant}: pgbench failed:\n{done.stdout}\n{done.stderr[-3000:]}")
    return {"tps": float(tps.group(1)), "latency_ms": float(latency.group(1))}


async def peer_books(url: str) -> tuple[bool, int]:
    """The peer's double entry: its balances sum to zero; returns that and its transfers."""
    conn = await asyncpg.connect(url)
    try:
        total = await conn.fetchval("SELECT sum(balance) FROM pgledger_accounts")
        transfers = await conn.fetchval("SELECT count(*) FROM pgledger_transfers")
    finally:
        await conn.close()
    return total == 0, int(transfers)


def main(argv: list[str] | None = None) -> int:
    ns = parse_args(argv)
    peer_sources(ns.pgledger)  # refuse a wrong path before creating anything
    tag = uuid.uuid4().hex[:10]
    names = {c: f"machipay_peer_{c.replace('-', '_')}_{tag}" for c in CONTESTANTS}
    created: list[str] = []
    runs: list[tuple[Slot, Result]] = []
    try:
        for name in names.values():
            asyncio.run(admin_execute(ns.url, f'CREATE DATABASE "{name}"'))
            created.append(name)
        with tempfile.TemporaryDirectory(prefix="machipay-peer-") as tmp:
            scripts = prepare(ns, names, Path(tmp))
            print(f"pgledger.sql sha256 {sha256(ns.pgledger / 'pgledger.sql')[:16]}…")
            for planned in schedule(ns.rounds, ns.seconds, ns.warmup_seconds):
                c = planned.contestant
                result = run_slot(ns, planned, names[c], scripts[c])
                runs.append((planned, result))
                print(
                    f"{planned.label}: {c:<9} {result['tps']:>9,.1f} tps"
                    f"  (latency {result['latency_ms']:.2f} ms"
                    f"{'' if planned.counted else f', {planned.seconds} s, not counted'})",
                    flush=True,
                )
        report = asyncio.run(verify(database_url(ns.url, names["ours"])))
        # pgbench writes placeholder fingerprints ('fp', 'h'): hashing an entry is the Python
        # client's work, so only the hash check is expected to object; the balances must not.
        ours_ok = not [f for f in report.findings if f.check != "entry-hash"]
        peer_ok, peer_transfers = asyncio.run(
            peer_books(database_url(ns.url, names["peer"], "postgresql"))
        )
    finally:
        if not ns.keep:
            for name in created:
                asyncio.run(admin_execute(ns.url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    slots, warmups, means = measured_slots(runs), warmup_slots(runs), mean_tps(runs)
    warmed = (
        f"after a {ns.warmup_seconds} s warm-up slot each (not counted)"
        if warmups
        else "without warm-up slots"
    )
    print(
        f"\n{ns.clients} clients, {ns.jobs} threads, {ns.seconds} s per slot, {ns.rounds} rounds"
        f" in alternating order {warmed}; mean tps per contestant:"
    )
    for c in CONTESTANTS:
        each = " / ".join(f"{s['tps']:,.0f}" for s in slots[c])
        warm = f"; warm-up {warmups[c]['tps']:,.0f}, not counted" if c in warmups else ""
        print(f"  {c:<9} {means[c]:>9,.1f}  ({each}{warm})")
    print(f"  ours ÷ tpcb-like  {means['ours'] / means['tpcb-like']:.2f}")
    print(f"  ours ÷ peer       {means['ours'] / means['peer']:.2f}")
    print(f"  peer ÷ tpcb-like  {means['peer'] / means['tpcb-like']:.2f}")
    print(f"  books: ours {'balance' if ours_ok else 'DO NOT balance'} over {report.entries:,}"
          " entries (verify_ledger but its hash check);"
          f" peer's balances {'sum to zero' if peer_ok else 'DO NOT sum to zero'}"
          f" over {peer_transfers:,} transfers")  # fmt: skip
    if ns.keep:
        print("  kept: " + ", ".join(created))
    if ns.json_out:
        summary = {
            "tps": means,
            "slots": slots,
            "warmup_seconds": ns.warmup_seconds,
            "warmup": warmups,  # each contestant's warm-up slot, not in "tps" or the ratios
            "ours_to_tpcb": means["ours"] / means["tpcb-like"],
            "ours_to_peer": means["ours"] / means["peer"],
            "peer_to_tpcb": means["peer"] / means["tpcb-like"],
            "books_ok": ours_ok and peer_ok,
            "pgledger_sha256": sha256(ns.pgledger / "pgledger.sql"),
        }
        ns.json_out.write_text(json.dumps(summary, indent=2), encoding="utf-8")
    return 0 if ours_ok and peer_ok else 1


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m loadtest.peer_bench", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--pgledger", type=Path, default=Path(DEFAULT_PGLEDGER),
        help="a checkout of pgr0ss/pgledger (its pgledger.sql and vendor/)",
    )  # fmt: skip
    parser.add_argument("--url", default=DEFAULT_URL, help="PostgreSQL server (admin database)")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--jobs", type=int, default=2, help="pgbench threads")
    parser.add_argument("--seconds", type=int, default=20, help="per measured slot")
    parser.add_argument(
        "--warmup-seconds", type=int, default=10,
        help="one uncounted slot per contestant before the rounds (0: none)",
    )  # fmt: skip
    parser.add_argument("--rounds", type=int, default=2, help="even: each order equally often")
    parser.add_argument("--keep", action="store_true", help="keep the scratch databases")
    parser.add_argument("--json-out", type=Path, help="also write the means and ratios here")
    ns = parser.parse_args(argv)
    if not 5 <= ns.seconds <= 300 or not 1 <= ns.clients <= 64 or not 1 <= ns.jobs <= ns.clients:
        parser.error("--seconds 5..300, --clients 1..64, --jobs 1..clients")
    if not 0 <= ns.warmup_seconds <= 300:
        parser.error("--warmup-seconds 0..300")
    if ns.rounds < 2 or ns.rounds % 2 or ns.rounds > 10:
        parser.error("--rounds must be even, 2..10: a single order favours whoever runs last")
    return ns


if __name__ == "__main__":
    raise SystemExit(main())
