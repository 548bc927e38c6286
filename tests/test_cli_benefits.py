"""`machipay benefits run` as an operator runs it: stopped after a batch, or killed outright
in the middle, run again to the end, nobody granted twice, and `machipay verify` (which
checks benefit budgets) green."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from benefits import service
from benefits.schemas import BenefitIn
from identity import create_user
from machipay.auth import Role
from machipay.auth.passwords import hash_password
from machipay.db import create_engine, make_sessionmaker
from machipay.settings import Settings
from machipay.timeutil import utcnow
from tests.conftest import create_scratch_postgres, drop_scratch_postgres
from tests.test_cli import MACHIPAY, run_cli
from wallet_api.service import NewResident, add_residents_bulk


@pytest.fixture
async def scratch_database() -> AsyncIterator[str]:
    url = await create_scratch_postgres("machipay_cli")
    yield url
    await drop_scratch_postgres(url)


async def _approved_benefit_for_all(
    scratch_database: str, residents: int
) -> tuple[int, async_sessionmaker[AsyncSession], AsyncEngine]:
    migrated = await asyncio.to_thread(run_cli, "migrate", database_url=scratch_database)
    assert migrated.returncode == 0, migrated.stderr
    engine = create_engine(Settings(database_url=scratch_database))
    sm = make_sessionmaker(engine)
    async with sm() as session:
        await add_residents_bulk(
            session,
            [
                NewResident(f"+8170{12_000_000 + n:08d}", f"住民{n}", 1980, "kitazawa")
                for n in range(residents)
            ],
            password_hash=hash_password("cli-benefit-pass"),
        )
        officer = await create_user(
            session, username="cli-officer", password="cli-benefit-pass", role=Role.OFFICER
        )
        approver = await create_user(
            session, username="cli-approver", password="cli-benefit-pass", role=Role.APPROVER
        )
        terms = BenefitIn.model_validate(
            {
                "name": "CLI給付",
                "purpose": "test",
                "points_per_recipient": 1000,
                "starts_at": utcnow() - timedelta(minutes=1),
                "recipients": {"all": True},
            }
        )
        benefit = await service.create_benefit(session, terms, actor_id=officer.id)
        await service.submit(session, benefit.id, actor_id=officer.id)
        await service.approve(session, benefit.id, actor_id=approver.id)
        await session.commit()
    return benefit.id, sm, engine


async def _lots(sm: async_sessionmaker[AsyncSession], benefit_id: int) -> tuple[int, int]:
    async with sm() as session:
        row = (
            await session.execute(
                text(
                    "SELECT count(*), count(DISTINCT resident_id) FROM wallet_points_lots"
                    " WHERE benefit_id = :b"
                ),
                {"b": benefit_id},
            )
        ).one()
    return int(row[0]), int(row[1])


async def test_benefits_run_stops_resumes_and_verifies(scratch_database: str) -> None:
    benefit_id, sm, engine = await _approved_benefit_for_all(scratch_database, 5)
    try:
        args = ("benefits", "run", "--id", str(benefit_id), "--batch", "2")
        stopped = await asyncio.to_thread(
            run_cli, *args, "--max-batches", "1", database_url=scratch_database
        )
        assert stopped.returncode == 0, stopped.stderr
        assert "granted 2 recipients" in stopped.stdout
        rest = await asyncio.to_thread(run_cli, *args, database_url=scratch_database)
        assert "granted 3 recipients" in rest.stdout, rest.stdout + rest.stderr
        again = await asyncio.to_thread(run_cli, "benefits", "run", database_url=scratch_database)
        assert "granted 0 recipients" in again.stdout, again.stdout + again.stderr
        assert await _lots(sm, benefit_id) == (5, 5)
        verified = await asyncio.to_thread(run_cli, "verify", database_url=scratch_database)
        assert verified.returncode == 0, verified.stdout + verified.stderr
    finally:
        await engine.dispose()


async def test_a_run_killed_mid_way_is_run_again_and_grants_each_resident_once(
    scratch_database: str,
) -> None:
    """SIGKILL, as a crash or an OOM kill would: no clean-up runs, the batch in flight is
    rolled back by the server, and a second run finishes the list."""
    residents = 3_000
    benefit_id, sm, engine = await _approved_benefit_for_all(scratch_database, residents)
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith("MACHIPAY_")}
        env["MACHIPAY_DATABASE_URL"] = scratch_database
        run = subprocess.Popen(  # noqa: ASYNC220 - killed from this test, below
            [*MACHIPAY, "benefits", "run", "--id", str(benefit_id), "--batch", "10"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            for _ in range(1_200):  # at most about a minute for the first batch to commit
                if (await _lots(sm, benefit_id))[0] > 0 or run.poll() is not None:
                    break
                await asyncio.sleep(0.05)
            os.kill(run.pid, signal.SIGKILL)
        finally:
            run.wait(timeout=30)
        granted_before, _ = await _lots(sm, benefit_id)
        assert 0 < granted_before < residents, f"killed after {granted_before} grants"

        again = await asyncio.to_thread(
            run_cli, "benefits", "run", "--id", str(benefit_id), database_url=scratch_database
        )
        assert again.returncode == 0, again.stdout + again.stderr
        assert f"granted {residents - granted_before} recipients" in again.stdout, again.stdout
        assert await _lots(sm, benefit_id) == (residents, residents)
        verified = await asyncio.to_thread(run_cli, "verify", database_url=scratch_database)
        assert verified.returncode == 0, verified.stdout + verified.stderr
    finally:
        await engine.dispose()
