"""How long a ward-wide benefit (給付) takes to reach every wallet.

``python -m loadtest.benefit_bench --residents 180000`` answers one question: can the run
grant every resident of the ward (180,000 app users) in at most two minutes here? On a
scratch database, migrated and dropped at the end (even on failure), it:

1. creates ``--residents`` residents directly in bulk (users, residents, their money and
   points accounts; one password hash for all), untimed;
2. drafts a benefit for ``{"all": true}``, submits it as one person and approves it as
   another (the real service functions), untimed;
3. times ``benefits.run_benefits`` — the same function as ``machipay benefits run`` and
   the worker — in batches of ``--batch``: one grant per resident (a ledger entry, a grant
   row, a points lot, a history line);
4. runs ``verify_ledger`` + ``verify_benefit_budgets`` + ``reconcile`` (timed apart) and
   checks that every resident holds exactly one lot of the benefit.

It prints the run's time and grants per second, and the exit status is 1 if the books do
not verify, a resident was missed or granted twice, or the target is missed. The machine
may be shared: say so next to any figure quoted from it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
import uuid
from datetime import timedelta

from sqlalchemy import func, select, text

import ledger
from benefits import run_benefits, verify_benefit_budgets
from benefits import service as benefit_service
from benefits.schemas import BenefitIn
from identity import create_user
from loadtest.ledger_bench import admin_execute, database_url
from machipay.auth import Role
from machipay.auth.passwords import hash_password
from machipay.db import create_engine, make_sessionmaker, unit_of_work
from machipay.migrate import upgrade
from machipay.settings import Settings
from machipay.timeutil import utcnow
from wallet_api.service import NewResident, add_residents_bulk
from ward import list_districts

DEFAULT_URL = "postgresql://root@127.0.0.1:5432/postgres"
TARGET_SECONDS = 120.0
PASSWORD = "bench-passphrase-2026"  # noqa: S105 - throwaway users of a scratch database
CREATE_BATCH = 5000


async def create_residents(sessionmaker: object, count: int) -> None:
    async with sessionmaker() as session:  # type: ignore[operator]
        districts = [d.id for d in await list_districts(session)]
    password_hash = hash_password(PASSWORD)
    for start in range(0, count, CREATE_BATCH):
        people = [
            NewResident(
                phone=f"+8170{10_000_000 + n}",
                display_name=f"住民{n + 1}",
                birth_year=1940 + n % 70,
                district_id=districts[n % len(districts)],
            )
            for n in range(start, min(count, start + CREATE_BATCH))
        ]
        async with unit_of_work(sessionmaker) as session:  # type: ignore[arg-type]
            await add_residents_bulk(session, people, password_hash=password_hash)
        print(f"  residents: {start + len(people):,}", end="\r", file=sys.stderr)
    print(file=sys.stderr)


async def approved_benefit(sessionmaker: object) -> int:
    async with unit_of_work(sessionmaker) as session:  # type: ignore[arg-type]
        officer = await create_user(
            session, username="bench-officer", password=PASSWORD, role=Role.OFFICER
        )
        approver = await create_user(
            session, username="bench-approver", password=PASSWORD, role=Role.APPROVER
        )
        terms = BenefitIn.model_validate(
            {
                "name": "全区民応援給付（ベンチ）",
                "purpose": "bench",
                "points_per_recipient": 5000,
                "points_expiry_days": 180,
                "starts_at": utcnow() - timedelta(minutes=1),
                "recipients": {"all": True},
            }
        )
        benefit = await benefit_service.create_benefit(session, terms, actor_id=officer.id)
        await benefit_service.submit(session, benefit.id, actor_id=officer.id)
        await benefit_service.approve(session, benefit.id, actor_id=approver.id)
        return benefit.id


async def bench(ns: argparse.Namespace, url: str) -> bool:
    engine = create_engine(Settings(database_url=url, environment="test"))
    sessionmaker = make_sessionmaker(engine)
    try:
        started = time.perf_counter()
        await create_residents(sessionmaker, ns.residents)
        print(f"created {ns.residents:,} residents in {time.perf_counter() - started:.1f} s")
        async with engine.connect() as connection:
            await connection.execution_options(isolation_level="AUTOCOMMIT")
            await connection.execute(text("ANALYZE"))
        benefit_id = await approved_benefit(sessionmaker)

        granted_so_far = 0

        def progress(_benefit: int, granted: int) -> None:
            nonlocal granted_so_far
            granted_so_far += granted
            print(f"  granted: {granted_so_far:,}", end="\r", file=sys.stderr)

        cpu = time.process_time()
        started = time.perf_counter()
        result = await run_benefits(
            sessionmaker, benefit_id=benefit_id, batch=ns.batch, progress=progress
        )
        seconds = time.perf_counter() - started
        cpu = time.process_time() - cpu
        print(file=sys.stderr)
        rate = result.granted / seconds if seconds else 0.0
        print(
            f"run: {result.granted:,} grants in {result.batches} batches of {ns.batch:,},"
            f" {seconds:.1f} s, {rate:,.0f} grants/s (this process's CPU {cpu:.1f} s)"
        )

        started = time.perf_counter()
        async with sessionmaker() as session:
            report = await ledger.verify_ledger(session)
            report.findings.extend(await verify_benefit_budgets(session))
            books = await ledger.reconcile(session)
            lots = (
                await session.execute(
                    text(
                        "SELECT count(*), count(DISTINCT resident_id) FROM wallet_points_lots"
                        " WHERE benefit_id = :b"
                    ),
                    {"b": benefit_id},
                )
            ).one()
            residents = (
                await session.execute(select(func.count()).select_from(text("residents")))
            ).scalar_one()
            budget = await ledger.get_balance(session, ledger.benefit_budget(benefit_id))
        print(f"verify + reconcile: {time.perf_counter() - started:.1f} s")
        print(report.summary())
        for finding in report.findings[:20]:
            print(f"  {finding}")
        print(
            "books reconcile"
            if books.ok
            else "books do NOT reconcile: " + "; ".join(books.problems)
        )
        once = lots[0] == lots[1] == residents == result.granted
        print(
            f"lots: {lots[0]:,} for {lots[1]:,} residents of {residents:,};"
            f" budget left {budget:,} points"
        )
        met = seconds <= TARGET_SECONDS
        print(f"target {TARGET_SECONDS:.0f} s for {ns.residents:,}: {'met' if met else 'MISSED'}")
        return report.ok and books.ok and once and budget == 0 and met
    finally:
        await engine.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--url", default=os.environ.get("MACHIPAY_BENCH_URL", DEFAULT_URL))
    parser.add_argument("--residents", type=int, default=180_000)
    parser.add_argument("--batch", type=int, default=200)  # at most 500 (tasks.MAX_CHUNK)
    ns = parser.parse_args(argv)
    name = f"machipay_benefitbench_{uuid.uuid4().hex[:10]}"
    created = False
    ok = False
    try:
        asyncio.run(admin_execute(ns.url, f'CREATE DATABASE "{name}"'))
        created = True
        url = database_url(ns.url, name)
        upgrade(url)
        ok = asyncio.run(bench(ns, url))
    finally:
        if created and not os.environ.get("BENCH_KEEP"):
            try:
                asyncio.run(admin_execute(ns.url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            except Exception as exc:  # keep the original error; say what is left behind
                print(f"could not drop scratch database {name}: {exc!r}", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
