"""Anonymised analytics: facts without identities, and disclosure control on every answer."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, inspect, select, update

from analytics import ingest_all, ingest_batch
from analytics.dimensions import AGE_BANDS
from analytics.disclosure import Thresholds, dominated, round_count, round_yen, suppressed
from analytics.dp_cells import build_dp_cells
from analytics.models import DpCell, Fact, QueryLog
from analytics.pseudonyms import resident_pseudonym
from machipay.auth import Role
from machipay.outbox import OutboxEvent
from machipay.settings import Settings
from tests.api.campaign_kit import open_ward
from tests.api.conftest import ResidentHandle, register, top_up
from tests.api.shops import ShopHandle, staff_token, sticker_payload
from tests.api.test_payments import pay

# -- what the store may hold ---------------------------------------------------------------

IDENTIFYING = {"name", "phone", "wallet", "resident_id", "user_id", "merchant_id", "created_at"}


def test_no_analytics_column_identifies_a_resident() -> None:
    for model in (Fact,):
        columns = {c.name for c in inspect(model).columns}
        assert not {c for c in columns if any(word in c for word in IDENTIFYING)}, columns
        # Time only as a local date and an hour: no timestamp to match against a receipt.
        assert not any("_at" in c for c in columns), columns


def test_pseudonyms_change_every_month_and_need_the_key() -> None:
    october = resident_pseudonym("k" * 40, "2026-10", 42)
    assert october == resident_pseudonym("k" * 40, "2026-10", 42)
    assert october != resident_pseudonym("k" * 40, "2026-11", 42)
    assert october != resident_pseudonym("other-key" * 5, "2026-10", 42)
    assert "42" not in october


# -- disclosure rules ----------------------------------------------------------------------

RULES = Thresholds()


def test_a_cell_of_nine_residents_is_suppressed_and_of_ten_is_shown() -> None:
    balanced = [100, 100, 100, 100]
    assert suppressed(9, balanced, RULES)
    assert not suppressed(10, balanced, RULES)


def test_the_dominance_rules() -> None:
    assert dominated([100, 100], RULES)  # fewer than three shops
    assert dominated([51, 25, 24], RULES)  # one shop over 50 %
    assert not dominated([50, 17, 17, 16], RULES)  # exactly 50 % (and 67 %) is not over
    assert dominated([40, 32, 28], RULES)  # two shops 72 % > 67 %
    assert not dominated([34, 33, 33], RULES)  # two shops 67 %, not over
    assert not dominated([30, 25, 25, 20], RULES)


def test_a_lone_hidden_cell_takes_its_smallest_sibling_with_it() -> None:
    from analytics.disclosure import complementary

    sizes = {("a",): 30, ("b",): 4, ("c",): 12, ("d",): 50}
    extra = complementary(list(sizes), {("b",)}, 1, size=sizes.__getitem__)
    assert extra == {("c",)}
    # Two dimensions: afterwards no row and no column has exactly one hidden cell.
    grid = {(r, c): 10 + 3 * r + c for r in range(3) for c in range(3)}
    hidden = {(1, 1)}
    hidden |= complementary(list(grid), hidden, 2, size=grid.__getitem__)
    for dim in (0, 1):
        for value in range(3):
            line = [k for k in grid if k[dim] == value]
            assert sum(k in hidden for k in line) != 1, (dim, value, hidden)
    assert complementary(list(sizes), set(), 1, size=sizes.__getitem__) == set()


def test_published_figures_are_rounded() -> None:
    assert [round_count(v) for v in (0, 2, 3, 12, 13, 1_002)] == [0, 0, 5, 10, 15, 1_000]
    assert round_yen(1_234_567) == 1_230_000
    assert round_yen(987) == 987
    assert round_yen(1_005.4) == 1_010 or round_yen(1_005.4) == 1_000
    assert round_yen(-45_678) == -45_700


# -- through the API -----------------------------------------------------------------------


async def street_with_payers(
    client: httpx.AsyncClient, app: FastAPI, residents: int, shops: int = 4
) -> tuple[int, list[ShopHandle], list[ResidentHandle], list[dict[str, object]]]:
    ward = await open_ward(client, app)
    handles = [await ward.shop() for _ in range(shops)]
    payloads = [await sticker_payload(client, s) for s in handles]
    people = []
    paid = []
    for n in range(residents):
        resident = await register(client)
        assert (await top_up(client, resident.wallet_id, 20_000)).status_code == 200
        response = await pay(client, resident, payloads[n % shops], 1_000)
        assert response.status_code == 201, response.text
        paid.append(response.json())
        people.append(resident)
    return ward.street_id, handles, people, paid


async def ask(client: httpx.AsyncClient, headers: dict[str, str], **body: object) -> httpx.Response:
    return await client.post("/api/v1/analytics/query", json=body, headers=headers)


async def test_an_analyst_sees_ten_residents_but_never_nine(
    client: httpx.AsyncClient, app: FastAPI, app_settings: Settings
) -> None:
    shown, _, _, _ = await street_with_payers(client, app, residents=10)
    hidden, _, _, _ = await street_with_payers(client, app, residents=9)
    assert await ingest_all(app.state.sessionmaker, app_settings) > 0
    analyst = await staff_token(client, app, Role.ANALYST)
    measures = ["spend", "payments", "residents", "average_ticket"]
    answer = await ask(client, analyst, measures=measures, filters={"shopping_street": [shown]})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["rows"] == [
        {
            "spend": 10_000,
            "payments": 10,
            "residents": 10,
            "average_ticket": 1_000,
            "suppressed": False,
        }
    ]
    assert body["suppressed"] == 0 and body["mode"] == "threshold"
    assert body["epsilon_spent"] is None
    nine = await ask(client, analyst, measures=measures, filters={"shopping_street": [hidden]})
    [cell] = nine.json()["rows"]
    assert cell["suppressed"] is True
    assert cell["spend"] is None and cell["residents"] is None

    # Asking for both streets now would be refused (9 residents more than the first
    # answer: the differencing guard). A colleague asking fresh gets both cells hidden:
    # the two streets' total (another query may publish it) minus the ten would give the
    # nine away (complementary suppression).
    differencing = await ask(
        client, analyst, measures=measures, filters={"shopping_street": [shown, hidden]}
    )
    assert differencing.status_code == 403
    colleague = await staff_token(client, app, Role.ANALYST)
    both = await ask(
        client,
        colleague,
        measures=measures,
        dimensions=["shopping_street"],
        filters={"shopping_street": [shown, hidden]},
    )
    assert both.status_code == 200, both.text
    assert [row["suppressed"] for row in both.json()["rows"]] == [True, True]
    assert both.json()["suppressed"] == 2

    # Every query is logged: who, what, how many cells, how many hidden.
    async with app.state.sessionmaker() as session:
        logged = (
            await session.execute(select(QueryLog).order_by(QueryLog.id.desc()).limit(1))
        ).scalar_one()
    assert logged.outcome == "answered" and (logged.cells, logged.suppressed) == (2, 2)
    assert logged.query["filters"] == {"shopping_street": [shown, hidden]}


async def test_one_dominant_shop_hides_the_spend(
    client: httpx.AsyncClient, app: FastAPI, app_settings: Settings
) -> None:
    ward = await open_ward(client, app)
    shops = [await ward.shop() for _ in range(3)]
    payloads = [await sticker_payload(client, s) for s in shops]
    for n in range(12):
        resident = await register(client)
        assert (await top_up(client, resident.wallet_id, 20_000)).status_code == 200
        # Most of the street's spend is at the first shop.
        amount, payload = (5_000, payloads[0]) if n < 8 else (500, payloads[1 + n % 2])
        assert (await pay(client, resident, payload, amount)).status_code == 201
    await ingest_all(app.state.sessionmaker, app_settings)
    analyst = await staff_token(client, app, Role.ANALYST)
    answer = await ask(
        client,
        analyst,
        measures=["spend"],
        dimensions=["shopping_street"],
        filters={"shopping_street": [ward.street_id]},
    )
    [cell] = answer.json()["rows"]
    assert cell["suppressed"] is True and cell["spend"] is None


async def test_hours_only_by_district_and_other_roles_are_refused(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    analyst = await staff_token(client, app, Role.ANALYST)
    by_street = await ask(
        client, analyst, measures=["payments"], dimensions=["shopping_street", "hour"]
    )
    assert by_street.status_code == 422
    assert "district" in by_street.json()["detail"]
    async with app.state.sessionmaker() as session:
        logged = (
            await session.execute(select(QueryLog).order_by(QueryLog.id.desc()).limit(1))
        ).scalar_one()
    assert logged.outcome == "refused"
    by_district = await ask(client, analyst, measures=["payments"], dimensions=["district", "hour"])
    assert by_district.status_code == 200
    unknown = await ask(client, analyst, measures=["payments"], dimensions=["phone"])
    assert unknown.status_code == 422
    for role in (Role.OFFICER, Role.OPERATOR):
        other = await staff_token(client, app, role)
        assert (await ask(client, other, measures=["payments"])).status_code == 403


async def test_the_consumers_lag_is_a_metric(client: httpx.AsyncClient, app: FastAPI) -> None:
    operator = await staff_token(client, app, Role.OPERATOR)
    scraped = (await client.get("/metrics", headers=operator)).text
    assert "machipay_analytics_outbox_waiting" in scraped
    assert "machipay_analytics_outbox_lag_seconds" in scraped


async def test_a_crash_between_read_and_apply_loses_nothing_and_duplicates_nothing(
    client: httpx.AsyncClient, app: FastAPI, app_settings: Settings
) -> None:
    street, shops, _people, paid = await street_with_payers(client, app, residents=3, shops=3)
    refund = await client.post(
        f"/api/v1/merchant/payments/{paid[0]['id']}/refunds",
        json={"amount": 400},
        headers=shops[0].headers | {"Idempotency-Key": uuid.uuid4().hex},
    )
    assert refund.status_code == 201, refund.text
    await ingest_all(app.state.sessionmaker, app_settings)  # what other tests left waiting

    resident = await register(client)
    assert (await top_up(client, resident.wallet_id, 5_000)).status_code == 200
    assert (
        await pay(client, resident, await sticker_payload(client, shops[1]), 700)
    ).status_code == 201

    async def facts_for(street_id: int) -> list[tuple[str, int]]:
        async with app.state.sessionmaker() as session:
            rows = await session.execute(
                select(Fact.kind, Fact.amount)
                .where(Fact.shopping_street_id == street_id)
                .order_by(Fact.source_id)
            )
            return [(k, int(a)) for k, a in rows]

    # The worker reads and applies, then dies before its commit.
    async with app.state.sessionmaker() as session:
        assert await ingest_batch(session, app_settings, limit=100) >= 1
        await session.rollback()
    assert (await facts_for(street))[-1] == ("refund", -400)  # the new payment is not there
    assert len(await facts_for(street)) == 4

    # The next run applies it once; a replayed row (marked unprocessed again) adds nothing.
    await ingest_all(app.state.sessionmaker, app_settings)
    assert len(await facts_for(street)) == 5
    async with app.state.sessionmaker() as session:
        await session.execute(
            update(OutboxEvent).values(processed_at=None).where(OutboxEvent.id > 0)
        )
        await session.commit()
    await ingest_all(app.state.sessionmaker, app_settings)
    facts = await facts_for(street)
    assert sorted(facts) == sorted([("payment", 1_000)] * 3 + [("refund", -400), ("payment", 700)])
    async with app.state.sessionmaker() as session:
        waiting = (
            await session.execute(select(func.count()).where(OutboxEvent.processed_at.is_(None)))
        ).scalar_one()
        # DP mode's cells too: what the consumer added is what a rebuild from the facts makes.
        cells = [*DpCell.__table__.columns]
        by_consumer = (await session.execute(select(*cells).order_by(*cells))).all()
        stored = (await session.execute(select(func.count()).select_from(Fact))).scalar_one()
        assert sum(row.facts for row in by_consumer) == 2 * stored  # in one row of each kind
        await build_dp_cells(session, app_settings.analytics_dp_amount_cap)
        assert (await session.execute(select(*cells).order_by(*cells))).all() == by_consumer
        await session.rollback()
    assert waiting == 0


@pytest.mark.parametrize("age, band", [(15, "10-19"), (35, "30-39"), (79, "70-79"), (93, "80+")])
def test_age_bands_are_ten_years_top_coded(age: int, band: str) -> None:
    from analytics.ingest import age_band

    assert age_band(age) == band


async def test_the_differencing_attack_cannot_reveal_a_small_group(
    client: httpx.AsyncClient, app: FastAPI, app_settings: Settings
) -> None:
    """A street's total, then the same street without one age band, then subtract: the
    second answer is refused, and the small band itself is only ever shown suppressed."""
    ward = await open_ward(client, app)
    shops = [await ward.shop() for _ in range(4)]
    payloads = [await sticker_payload(client, s) for s in shops]
    for n, year in enumerate([1985] * 12 + [1960] * 3):  # twelve in their 40s, three in their 60s
        resident = await register(client, birth_year=year)
        assert (await top_up(client, resident.wallet_id, 20_000)).status_code == 200
        assert (await pay(client, resident, payloads[n % 4], 1_000)).status_code == 201
    await ingest_all(app.state.sessionmaker, app_settings)
    analyst = await staff_token(client, app, Role.ANALYST)
    street = {"shopping_street": [str(ward.street_id)]}  # ids as strings are fine too

    total = await ask(client, analyst, measures=["spend", "residents"], filters=street)
    assert total.status_code == 200, total.text
    [cell] = total.json()["rows"]
    assert (cell["spend"], cell["residents"], cell["suppressed"]) == (15_000, 15, False)

    others = [band for band in AGE_BANDS if band != "60-69"]
    attack = await ask(
        client,
        analyst,
        measures=["spend", "residents"],
        filters={**street, "age_band": others},
    )
    assert attack.status_code == 403, attack.text
    assert attack.json()["type"].endswith("analytics-differencing-refused")

    by_band = await ask(
        client, analyst, measures=["spend", "residents"], dimensions=["age_band"], filters=street
    )
    assert by_band.status_code == 200, by_band.text
    cells = {row["age_band"]: row for row in by_band.json()["rows"]}
    assert cells["60-69"]["suppressed"] is True and cells["60-69"]["spend"] is None
    # The street's total was published: the 40s are hidden as well, or total minus the
    # 40s would be the 60s (complementary suppression).
    assert cells["40-49"]["suppressed"] is True and cells["40-49"]["residents"] is None
    # A population far from every earlier one is answered as usual.
    elsewhere = await ask(
        client,
        analyst,
        measures=["payments"],
        filters={"shopping_street": [ward.street_id + 10_000]},
    )
    assert elsewhere.status_code == 200


async def test_rollups_answer_exactly_as_the_facts_do(
    client: httpx.AsyncClient, app: FastAPI, app_settings: Settings
) -> None:
    from analytics.query import Query, _cells_from_facts
    from analytics.rollups import SHAPES, read_rollup, rebuild_rollups, shape_for

    street, _, people, _ = await street_with_payers(client, app, residents=12)
    shop = await (await open_ward(client, app)).shop()
    payload = await sticker_payload(client, shop)
    for resident in people[:5]:  # the same residents again, elsewhere: counted once per cell
        assert (await pay(client, resident, payload, 700)).status_code == 201
    await ingest_all(app.state.sessionmaker, app_settings)
    async with app.state.sessionmaker() as session:
        for shape, dims in SHAPES.items():
            for dimensions in (dims, ("month", *dims)):
                assert shape_for(dimensions, {}) == shape
                query = Query(measures=("spend",), dimensions=dimensions, filters={})
                assert await read_rollup(session, shape, dimensions, {}) == (
                    await _cells_from_facts(session, query)
                ), shape
        filters = {"shopping_street": [street]}
        query = Query(measures=("spend",), dimensions=("shopping_street",), filters=filters)
        assert await read_rollup(session, "street", query.dimensions, filters) == (
            await _cells_from_facts(session, query)
        )
        # Not a shape: a filter outside the dimensions goes to the facts.
        assert shape_for(("shopping_street",), {"age_band": ["30-39"]}) is None
        before = await read_rollup(session, "street_age_band", SHAPES["street_age_band"], {})
        await rebuild_rollups(session)
        after = await read_rollup(session, "street_age_band", SHAPES["street_age_band"], {})
        await session.rollback()
    assert before == after


async def test_the_guard_counts_the_residents_behind_a_difference_as_python_does(
    client: httpx.AsyncClient, app: FastAPI, app_settings: Settings
) -> None:
    """The people whose facts one predicate keeps and the other not, counted in SQL (NULL
    streets and campaigns as values of their own), against the same over every fact."""
    from analytics.guard import _people_apart, differing_people

    street, _, _, _ = await street_with_payers(client, app, residents=11)
    await ingest_all(app.state.sessionmaker, app_settings)
    names = {"shopping_street": "shopping_street_id", "month": "month", "age_band": "age_band"}
    names |= {"weekday": "weekday", "campaign": "campaign_id"}
    async with app.state.sessionmaker() as session:
        month = await session.scalar(select(func.max(Fact.month)))
        facts = [
            {**{name: getattr(f, column) for name, column in names.items()}, "who": f.person_key}
            for f in (await session.execute(select(Fact))).scalars()
        ]
        bands = ["20-29", "30-39", "40-49", "50-59"]
        predicates: list[dict[str, list[Any]]] = [
            {},
            {"month": [month]},
            {"shopping_street": [street]},
            {"shopping_street": [street, None]},
            {"shopping_street": [street], "month": [month]},
            {"shopping_street": [street], "age_band": bands},
            {"campaign": [None]},
            {"weekday": [1, 2, 3], "month": [month]},
        ]
        for one in predicates:
            for two in predicates:
                first = {name: frozenset(values) for name, values in one.items()}
                second = {name: frozenset(values) for name, values in two.items()}

                def keeps(fact: dict[str, Any], predicate: dict[str, frozenset[Any]]) -> bool:
                    return all(fact[name] in values for name, values in predicate.items())

                expected = {f["who"] for f in facts if keeps(f, first) != keeps(f, second)}
                for limit in (5, 10**6):
                    counted = await differing_people(session, first, second, at_most=limit)
                    assert counted == min(len(expected), limit), (one, two)
                    # The rollups' shortcut never claims more people than there are.
                    apart = await _people_apart(session, first, second, limit)
                    assert apart is None or apart <= counted, (one, two)
