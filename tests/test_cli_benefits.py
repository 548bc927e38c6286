"""`machipay benefits run` as an operator runs it: stopped after a batch, run again to the
end, nobody granted twice, and `machipay verify` (which checks benefit budgets) green."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import text

from benefits import service
from benefits.schemas import BenefitIn
from identity import create_user
from machipay.auth import Role
from machipay.auth.passwords import hash_password
from machipay.db import create_engine, make_sessionmaker
from machipay.settings import Settings
from machipay.timeutil import utcnow
from tests.conftest import create_scratch_postgres, drop_scratch_postgres
from tests.test_cli import run_cli
from wallet_api.service import NewResident, add_residents_bulk


@pytest.fixture
async def scratch_database() -> AsyncIterator[str]:
    url = await create_scratch_postgres("machipay_cli")
    yield url
    await drop_scratch_postgres(url)


async def test_benefits_run_stops_resumes_and_verifies(scratch_database: str) -> None:
    migrated = await asyncio.to_thread(run_cli, "migrate", database_url=scratch_database)
    assert migrated.returncode == 0, migrated.stderr
    engine = create_engine(Settings(database_url=scratch_database))
    sm = make_sessionmaker(engine)
    try:
        async with sm() as session:
            await add_residents_bulk(
                session,
                [NewResident(f"+817012345{n:03d}", f"住民{n}", 1980, "kitazawa") for n in range(5)],
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
            benefit_id = benefit.id
            await session.commit()

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

        async with sm() as session:
            lots = (
                await session.execute(
                    text(
                        "SELECT count(*), count(DISTINCT resident_id) FROM wallet_points_lots"
                        " WHERE benefit_id = :b"
                    ),
                    {"b": benefit_id},
                )
            ).one()
        assert tuple(lots) == (5, 5)
        verified = await asyncio.to_thread(run_cli, "verify", database_url=scratch_database)
        assert verified.returncode == 0, verified.stdout + verified.stderr
    finally:
        await engine.dispose()
