"""Benefits (給付) through HTTP on PostgreSQL: maker-checker, the bulk run (resumable, safe
twice at once), CSV recipients, expiry to the benefit's breakage, points spent at a shop
settled from the ward's money, and the report under disclosure control."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select, text

import ledger
from benefits import run_benefits
from benefits import tasks as benefit_tasks
from benefits.models import BenefitGrant
from machipay.auth import Role
from machipay.db import create_engine, make_sessionmaker
from machipay.settings import Settings
from machipay.timeutil import utcnow
from tests.api.conftest import ResidentHandle, register
from tests.api.shops import open_shop, staff_token, sticker_payload
from tests.api.test_payments import pay
from tests.api.test_settlement import settle_day
from tests.conftest import ManualClock
from wallet_api import expire_points
from wallet_api.models import PointsLot

BENEFITS = "/api/v1/benefits"


@pytest.fixture
def app_settings(app_settings: Settings) -> Settings:
    # A small k, so that the report's rules show with a handful of residents.
    return app_settings.model_copy(update={"analytics_min_residents": 3})


def body(**changes: Any) -> dict[str, Any]:
    terms: dict[str, Any] = {
        "name": "子育て応援給付",
        "purpose": "物価高騰対策",
        "points_per_recipient": 3000,
        "points_expiry_days": 180,
        "starts_at": (utcnow() - timedelta(minutes=1)).isoformat(),
        "recipients": {"all": True},
    }
    terms.update(changes)
    return terms


async def create(
    client: httpx.AsyncClient, staff: dict[str, str], **changes: Any
) -> dict[str, Any]:
    response = await client.post(BENEFITS, json=body(**changes), headers=staff)
    assert response.status_code == 201, response.text
    assert response.json()["status"] == "draft"
    return dict(response.json())


async def launch(
    client: httpx.AsyncClient,
    officer: dict[str, str],
    approver: dict[str, str],
    **changes: Any,
) -> dict[str, Any]:
    benefit = await create(client, officer, **changes)
    submitted = await client.post(f"{BENEFITS}/{benefit['id']}/submit", headers=officer)
    assert submitted.status_code == 200, submitted.text
    approved = await client.post(f"{BENEFITS}/{benefit['id']}/approve", headers=approver)
    assert approved.status_code == 200, approved.text
    return dict(approved.json())


async def get(client: httpx.AsyncClient, staff: dict[str, str], benefit_id: int) -> dict[str, Any]:
    response = await client.get(f"{BENEFITS}/{benefit_id}", headers=staff)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def wallet(client: httpx.AsyncClient, resident: ResidentHandle) -> dict[str, Any]:
    response = await client.get("/api/v1/wallet", headers=resident.headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def balance(app: FastAPI, code: str) -> int:
    async with app.state.sessionmaker() as session:
        return await ledger.get_balance(session, code)


async def lots_of(app: FastAPI, benefit_id: int) -> dict[int, int]:
    """Resident → how many lots of this benefit they hold."""
    async with app.state.sessionmaker() as session:
        rows = await session.execute(
            select(PointsLot.resident_id, func.count())
            .where(PointsLot.benefit_id == benefit_id)
            .group_by(PointsLot.resident_id)
        )
        return {int(r): int(n) for r, n in rows}


async def test_a_benefit_is_approved_by_a_second_person_runs_and_reaches_every_wallet(
    client: httpx.AsyncClient, app: FastAPI, app_settings: Settings
) -> None:
    officer = await staff_token(client, app, Role.OFFICER)
    editor = await staff_token(client, app, Role.APPROVER)
    approver = await staff_token(client, app, Role.APPROVER)
    residents = [await register(client) for _ in range(3)]
    city_before = await balance(app, ledger.BANK_CITY)

    benefit = await create(client, officer)
    assert benefit["recipients"] == 3 and benefit["budget"] == 9000  # a draft's preview
    edited = await client.patch(
        f"{BENEFITS}/{benefit['id']}", json={"purpose": "物価高騰対策（追加）"}, headers=editor
    )
    assert edited.status_code == 200, edited.text
    submitted = await client.post(f"{BENEFITS}/{benefit['id']}/submit", headers=officer)
    assert submitted.status_code == 200, submitted.text
    assert (submitted.json()["recipients"], submitted.json()["budget"]) == (3, 9000)

    # The officer may not approve at all; an approver who edited it may not approve it.
    assert (
        await client.post(f"{BENEFITS}/{benefit['id']}/approve", headers=officer)
    ).status_code == 403
    refused = await client.post(f"{BENEFITS}/{benefit['id']}/approve", headers=editor)
    assert refused.status_code == 403
    assert refused.json()["type"].endswith("/benefit-self-approval")
    approved = await client.post(f"{BENEFITS}/{benefit['id']}/approve", headers=approver)
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "approved"
    assert await balance(app, ledger.BANK_CITY) == city_before + 9000
    assert await balance(app, ledger.benefit_budget(benefit["id"])) == 9000

    result = await run_benefits(app.state.sessionmaker, benefit_id=benefit["id"])
    assert result.granted == 3
    done = await get(client, officer, benefit["id"])
    assert (done["status"], done["granted"], done["budget_remaining"]) == ("done", 3, 0)
    assert await balance(app, ledger.benefit_budget(benefit["id"])) == 0
    for resident in residents:
        seen = await wallet(client, resident)
        assert seen["points"] == 3000
        [lot] = seen["points_lots"]
        assert lot["amount"] == 3000
        assert [b["points"] for b in seen["benefits_received"]] == [3000]
        assert seen["benefits_received"][0]["name"] == "子育て応援給付"
        history = await client.get("/api/v1/wallet/transactions", headers=resident.headers)
        assert [i["kind"] for i in history.json()["items"]] == ["benefit_grant"]

    # Running it again grants nothing.
    again = await run_benefits(app.state.sessionmaker, benefit_id=benefit["id"])
    assert again.granted == 0
    assert await lots_of(app, benefit["id"]) == {r.id: 1 for r in residents}

    # Benefit points spent at a shop are drawn from the ward's money at settlement, like
    # campaign points (Dr bank:settlement / Cr bank:city), so the prepaid float is untouched.
    shop = await open_shop(client, app, shopping_street_id=None)
    paid = await pay(client, residents[0], await sticker_payload(client, shop), 1200)
    assert paid.status_code == 201, paid.text
    assert paid.json()["paid_with"] == {"points": 1200, "money": 0}
    statement = await settle_day(app, app_settings, shop.id, date(2026, 11, 1), utcnow())
    assert statement is not None and statement.campaign_funded == 1200
    assert await balance(app, ledger.BANK_CITY) == city_before + 9000 - 1200


async def test_an_edit_after_submission_sends_it_back_to_draft(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    officer = await staff_token(client, app, Role.OFFICER)
    approver = await staff_token(client, app, Role.APPROVER)
    await register(client)
    benefit = await create(client, officer)
    await client.post(f"{BENEFITS}/{benefit['id']}/submit", headers=officer)
    edited = await client.patch(
        f"{BENEFITS}/{benefit['id']}", json={"points_per_recipient": 5000}, headers=officer
    )
    assert edited.json()["status"] == "draft"
    refused = await client.post(f"{BENEFITS}/{benefit['id']}/approve", headers=approver)
    assert refused.status_code == 409
    assert (await get(client, officer, benefit["id"]))["budget"] == 5000


async def test_a_run_stopped_halfway_resumes_and_two_runs_at_once_grant_each_once(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    officer = await staff_token(client, app, Role.OFFICER)
    approver = await staff_token(client, app, Role.APPROVER)
    residents = [await register(client) for _ in range(7)]
    everyone = {r.id for r in residents}

    first = await launch(client, officer, approver, points_per_recipient=100)
    stopped = await run_benefits(
        app.state.sessionmaker, benefit_id=first["id"], batch=2, max_batches=1
    )
    assert stopped.granted == 2
    halfway = await get(client, officer, first["id"])
    assert (halfway["status"], halfway["granted"]) == ("running", 2)
    assert halfway["budget_remaining"] == 500
    resumed = await run_benefits(app.state.sessionmaker, benefit_id=first["id"], batch=2)
    assert resumed.granted == 5
    assert await lots_of(app, first["id"]) == dict.fromkeys(everyone, 1)

    second = await launch(client, officer, approver, points_per_recipient=200)
    both = await asyncio.gather(
        run_benefits(app.state.sessionmaker, benefit_id=second["id"], batch=2),
        run_benefits(app.state.sessionmaker, benefit_id=second["id"], batch=2),
    )
    assert sum(r.granted for r in both) == 7
    assert await lots_of(app, second["id"]) == dict.fromkeys(everyone, 1)
    async with app.state.sessionmaker() as session:
        grants = (
            await session.execute(
                select(func.count()).where(BenefitGrant.benefit_id == second["id"])
            )
        ).scalar_one()
    assert grants == 7
    finished = await get(client, officer, second["id"])
    assert (finished["status"], finished["granted"], finished["budget_remaining"]) == (
        "done",
        7,
        0,
    )
    for resident in residents:
        assert (await wallet(client, resident))["points"] == 300


async def test_a_run_grants_in_bounded_chunks_each_its_own_transaction(
    client: httpx.AsyncClient, app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    """However large a batch is asked for, one transaction grants at most MAX_CHUNK
    recipients (their points rows stay locked until it commits); a re-run grants nobody."""
    monkeypatch.setattr(benefit_tasks, "MAX_CHUNK", 2)
    officer = await staff_token(client, app, Role.OFFICER)
    approver = await staff_token(client, app, Role.APPROVER)
    residents = [await register(client) for _ in range(5)]
    benefit = await launch(client, officer, approver, points_per_recipient=100)

    run = await run_benefits(app.state.sessionmaker, benefit_id=benefit["id"], batch=10_000)
    assert (run.granted, run.batches) == (5, 3)  # 2 + 2 + 1
    async with app.state.sessionmaker() as session:
        # Rows written by one transaction share its id (xmin): three transactions.
        transactions = await session.scalar(
            text("SELECT count(DISTINCT xmin::text) FROM benefit_grants WHERE benefit_id = :b"),
            {"b": benefit["id"]},
        )
    assert transactions == 3
    again = await run_benefits(app.state.sessionmaker, benefit_id=benefit["id"], batch=10_000)
    assert again.granted == 0
    assert await lots_of(app, benefit["id"]) == dict.fromkeys((r.id for r in residents), 1)
    assert (await get(client, officer, benefit["id"]))["status"] == "done"


async def test_a_chunk_that_meets_a_held_lock_is_retried_and_grants_once(
    client: httpx.AsyncClient,
    app: FastAPI,
    app_settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A resident's points row held by another transaction (a payment) past the lock
    timeout: the chunk rolls back and is tried again, and everyone is granted once."""
    monkeypatch.setattr(benefit_tasks, "BUSY_PAUSE_SECONDS", 0.2)
    caplog.set_level("WARNING", logger="machipay.benefits")
    officer = await staff_token(client, app, Role.OFFICER)
    approver = await staff_token(client, app, Role.APPROVER)
    residents = [await register(client) for _ in range(3)]
    benefit = await launch(client, officer, approver, points_per_recipient=100)
    impatient = create_engine(app_settings.model_copy(update={"db_lock_timeout_ms": 200}))
    try:
        async with app.state.sessionmaker() as holder:
            await holder.execute(
                text("SELECT 1 FROM ledger_accounts WHERE code = :c FOR UPDATE"),
                {"c": ledger.resident_points(residents[1].id)},
            )
            running = asyncio.create_task(
                run_benefits(make_sessionmaker(impatient), benefit_id=benefit["id"])
            )
            await asyncio.sleep(0.5)  # at least one attempt timed out meanwhile
            assert not running.done()
            await holder.rollback()
        result = await running
    finally:
        await impatient.dispose()
    assert result.granted == 3
    assert any("busy, retrying" in r.getMessage() for r in caplog.records)
    assert await lots_of(app, benefit["id"]) == dict.fromkeys((r.id for r in residents), 1)
    for resident in residents:
        assert (await wallet(client, resident))["points"] == 100


async def test_a_csv_list_takes_the_good_rows_and_names_the_bad_ones(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    officer = await staff_token(client, app, Role.OFFICER)
    uploader = await staff_token(client, app, Role.APPROVER)
    approver = await staff_token(client, app, Role.APPROVER)
    listed, by_wallet, by_phone, _other = [await register(client) for _ in range(4)]
    benefit = await create(client, officer, recipients={"wallet_ids": [listed.wallet_id]})
    assert benefit["recipients"] == 1

    full_width = by_wallet.wallet_id.translate(
        str.maketrans("w_0123456789abcdef", "ｗ＿０１２３４５６７８９ａｂｃｄｅｆ")
    )
    csv_text = (
        "wallet_id,氏名\n"
        f"{full_width},世田谷 太郎\n"  # line 2: NFKC makes it the wallet id
        "w_00000000deadbeef,不明\n"  # line 3: no such wallet
        ",空欄\n"  # line 4
        "not-a-wallet,x\n"  # line 5
        f"{by_wallet.wallet_id},重複\n"  # line 6: the same as line 2
    )
    uploaded = await client.post(
        f"{BENEFITS}/{benefit['id']}/recipients",
        content=csv_text.encode(),
        headers=uploader | {"Content-Type": "text/csv"},
    )
    assert uploaded.status_code == 200, uploaded.text
    answer = uploaded.json()
    assert answer["accepted"] == 1
    assert [(e["row"], e["code"]) for e in answer["errors"]] == [
        (3, "no_recipient"),
        (4, "empty"),
        (5, "not_a_wallet_id"),
        (6, "duplicate"),
    ]
    # Messages in Japanese for the ward's staff, naming what is wrong.
    messages = [e["message"] for e in answer["errors"]]
    assert "受け取れる利用者がいません" in messages[0]
    assert messages[1] == "ウォレットIDが空欄です。"
    assert "「not-a-wallet」" in messages[2]
    assert messages[3].startswith("2行目と同じウォレットID")
    assert not any(word in m for m in messages for word in ("no ", "the same", "is not"))

    # A phone column, typed as an IME types it (full-width digits, long-vowel mark).
    digits = by_phone.phone.translate(str.maketrans("0123456789-", "０１２３４５６７８９ー"))
    by_phones = await client.post(
        f"{BENEFITS}/{benefit['id']}/recipients",
        content=f"phone\n{digits}\n12345\n".encode(),
        headers=officer | {"Content-Type": "text/csv"},
    )
    assert by_phones.status_code == 200, by_phones.text
    assert by_phones.json()["accepted"] == 1
    assert [(e["row"], e["code"]) for e in by_phones.json()["errors"]] == [(3, "not_a_phone")]
    assert by_phones.json()["errors"][0]["message"] == "「12345」は日本の電話番号として読めません。"

    no_column = await client.post(
        f"{BENEFITS}/{benefit['id']}/recipients",
        content=b"name\nx\n",
        headers=officer | {"Content-Type": "text/csv"},
    )
    assert no_column.status_code == 422
    assert "wallet_id か phone" in no_column.json()["detail"]

    submitted = await client.post(f"{BENEFITS}/{benefit['id']}/submit", headers=officer)
    assert (submitted.json()["recipients"], submitted.json()["budget"]) == (3, 9000)
    # Uploading a list is an edit: the uploader cannot approve.
    assert (
        await client.post(f"{BENEFITS}/{benefit['id']}/approve", headers=uploader)
    ).status_code == 403
    assert (
        await client.post(f"{BENEFITS}/{benefit['id']}/approve", headers=approver)
    ).status_code == 200
    await run_benefits(app.state.sessionmaker, benefit_id=benefit["id"])
    assert set(await lots_of(app, benefit["id"])) == {listed.id, by_wallet.id, by_phone.id}


async def test_expired_benefit_points_go_to_the_benefits_breakage(
    client: httpx.AsyncClient, app: FastAPI, clock: ManualClock
) -> None:
    officer = await staff_token(client, app, Role.OFFICER)
    approver = await staff_token(client, app, Role.APPROVER)
    spender, keeper = [await register(client) for _ in range(2)]
    benefit = await launch(
        client, officer, approver, points_per_recipient=500, points_expiry_days=1
    )
    await run_benefits(app.state.sessionmaker, benefit_id=benefit["id"])
    shop = await open_shop(client, app, shopping_street_id=None)
    assert (await pay(client, spender, await sticker_payload(client, shop), 200)).status_code == 201

    clock.advance(2 * 86_400)
    async with app.state.sessionmaker() as session:
        assert await expire_points(session, now=utcnow()) == 2
        await session.commit()
    assert await balance(app, ledger.benefit_breakage(benefit["id"])) == 300 + 500
    assert (await wallet(client, spender))["points"] == 0
    assert (await wallet(client, keeper))["points"] == 0
    assert await balance(app, ledger.resident_points(keeper.id)) == 0


async def test_the_report_hides_small_districts_and_what_would_give_them_away(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    officer = await staff_token(client, app, Role.OFFICER)
    approver = await staff_token(client, app, Role.APPROVER)
    analyst = await staff_token(client, app, Role.ANALYST)
    big = [await register(client, district="kitazawa") for _ in range(4)]
    [await register(client, district="ikejiri") for _ in range(3)]
    [await register(client, district="taishido") for _ in range(1)]
    benefit = await launch(client, officer, approver, points_per_recipient=1000)
    await run_benefits(app.state.sessionmaker, benefit_id=benefit["id"])
    shop = await open_shop(client, app, shopping_street_id=None)
    assert (await pay(client, big[0], await sticker_payload(client, shop), 400)).status_code == 201

    response = await client.get(f"{BENEFITS}/{benefit['id']}/report", headers=analyst)
    assert response.status_code == 200, response.text
    report = response.json()
    rows = {r["district_id"]: r for r in report["rows"]}
    # taishido has 1 recipient (< k = 3); ikejiri, the smallest other, is hidden with it,
    # or the total minus kitazawa would give taishido away.
    assert rows["taishido"]["suppressed"] and rows["taishido"]["granted"] is None
    assert rows["ikejiri"]["suppressed"] and rows["ikejiri"]["recipients"] is None
    assert not rows["kitazawa"]["suppressed"]
    assert (rows["kitazawa"]["recipients"], rows["kitazawa"]["granted"]) == (5, 4000)
    # One resident spent: that figure is about fewer than k people.
    assert rows["kitazawa"]["spent"] is None
    assert report["total"]["granted"] == 8000 and report["total"]["spent"] is None
    assert report["suppressed"] == 2
    resident_refused = await client.get(
        f"{BENEFITS}/{benefit['id']}/report", headers=big[1].headers
    )
    assert resident_refused.status_code == 403


async def test_two_reports_a_resident_apart_hide_that_cell_whoever_reads_them(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    """The report read again after one resident spent more (same people behind the figure)
    or spent for the first time must not show the step: it stays hidden, for any viewer,
    until k residents changed since the figure was last published."""
    officer = await staff_token(client, app, Role.OFFICER)
    approver = await staff_token(client, app, Role.APPROVER)
    other_officer = await staff_token(client, app, Role.OFFICER)
    analyst = await staff_token(client, app, Role.ANALYST)
    people = [await register(client, district="kitazawa") for _ in range(6)]
    benefit = await launch(client, officer, approver, points_per_recipient=1000)
    await run_benefits(app.state.sessionmaker, benefit_id=benefit["id"])
    shop = await open_shop(client, app, shopping_street_id=None)

    async def spend(resident: ResidentHandle, amount: int) -> None:
        payload = await sticker_payload(client, shop)
        assert (await pay(client, resident, payload, amount)).status_code == 201

    async def spent(viewer: dict[str, str]) -> tuple[int | None, int | None]:
        response = await client.get(f"{BENEFITS}/{benefit['id']}/report", headers=viewer)
        assert response.status_code == 200, response.text
        report = response.json()
        (row,) = [r for r in report["rows"] if r["district_id"] == "kitazawa"]
        assert row["granted"] == 6000 and report["total"]["granted"] == 6000
        return row["spent"], report["total"]["spent"]

    for resident in people[:3]:
        await spend(resident, 100)
    assert await spent(officer) == (300, 300)
    # The same three residents, one of whom spent 70 more: the difference is hers.
    await spend(people[0], 70)
    assert await spent(other_officer) == (None, None)
    # A fourth resident's first spending: two residents changed since 300 was shown.
    await spend(people[3], 50)
    assert await spent(analyst) == (None, None)
    assert await spent(officer) == (None, None)
    # A third change: the step is now about k = 3 residents.
    await spend(people[4], 30)
    assert await spent(other_officer) == (450, 450)
    # Read again unchanged: the same figures (a repeat differs by nobody).
    assert await spent(analyst) == (450, 450)


async def test_a_long_csv_list_is_read_whole_and_a_too_large_one_refused(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    officer = await staff_token(client, app, Role.OFFICER)
    resident = await register(client)
    benefit = await create(client, officer, recipients={"wallet_ids": []})
    # 40,000 rows: more wallet ids than the driver takes parameters in one statement.
    rows = [f"w_{n:016x}" for n in range(40_000)] + [resident.wallet_id]
    uploaded = await client.post(
        f"{BENEFITS}/{benefit['id']}/recipients",
        content=("wallet_id\n" + "\n".join(rows) + "\n").encode(),
        headers=officer | {"Content-Type": "text/csv"},
    )
    assert uploaded.status_code == 200, uploaded.text
    assert uploaded.json()["accepted"] == 1
    assert len(uploaded.json()["errors"]) == 1000  # the first thousand are listed
    too_large = await client.post(
        f"{BENEFITS}/{benefit['id']}/recipients",
        content=b"wallet_id\n" + b"w_0\n" * (2 * 1024 * 1024 + 1),
        headers=officer | {"Content-Type": "text/csv"},
    )
    assert too_large.status_code == 422


async def test_a_rule_by_district_and_age_band_picks_its_residents(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    officer = await staff_token(client, app, Role.OFFICER)
    year = utcnow().year  # the ages are those reached this year (in Tokyo)
    await register(client, district="kitazawa", birth_year=year - 45)  # 40-49, in
    await register(client, district="kitazawa", birth_year=year - 72)  # 70-79, in
    await register(client, district="kitazawa", birth_year=year - 30)  # 30-39, out
    await register(client, district="ikejiri", birth_year=year - 45)  # elsewhere, out
    rule = {"district_ids": ["kitazawa"], "age_bands": ["40-49", "70-79"]}
    benefit = await create(client, officer, recipients=rule, points_per_recipient=1000)
    assert (benefit["recipients"], benefit["budget"]) == (2, 2000)
    unknown = await client.post(
        BENEFITS, json=body(recipients={"district_ids": ["atlantis"]}), headers=officer
    )
    assert unknown.status_code == 422
    two_forms = await client.post(
        BENEFITS, json=body(recipients={"all": True, "wallet_ids": []}), headers=officer
    )
    assert two_forms.status_code == 422
