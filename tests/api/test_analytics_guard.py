"""The differencing guard against the attacks a security review confirmed (issue 18): cell by
cell, after many fillers, across months, and refusals as an oracle.

Facts are written straight into the store (as the consumer would) on streets and districts
of their own, so each attack meets exactly the history it needs."""

from __future__ import annotations

import random
import uuid
from collections.abc import Mapping
from datetime import date
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from analytics.dimensions import AGE_BANDS
from analytics.models import QueryLog
from machipay.auth import Role
from machipay.settings import Settings
from tests.analytics.facts import fact, store_facts
from tests.api.shops import staff_token

MONTH = date(2031, 5, 12)  # a month no other test writes facts in


def new_street() -> int:
    return 7_000_000 + random.randrange(10**9)


def new_key(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:24]}"


async def store(app: FastAPI, rows: list[dict[str, Any]]) -> None:
    async with app.state.sessionmaker() as session:
        await store_facts(session, rows)


def residents_on(
    street: int, count: int, *, amount: int = 1_000, day: date = MONTH, **traits: Any
) -> list[dict[str, Any]]:
    """``count`` residents paying ``amount`` once each, spread over four shops of ``street``."""
    shops = [f"shop-{street}-{n}" for n in range(4)]
    return [
        fact(day, street, amount, resident=new_key("r"), shop=shops[n % 4], **traits)
        for n in range(count)
    ]


async def ask(client: httpx.AsyncClient, headers: dict[str, str], **body: Any) -> httpx.Response:
    return await client.post("/api/v1/analytics/query", json=body, headers=headers)


async def test_cells_cannot_be_subtracted_cell_by_cell(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    """Item 1: a street by age band, then the same without one district: the two queries'
    populations differ by thirteen residents, but their 40-49 cells by the one 40-49
    resident of that district (¥4,300)."""
    street, home, other = new_street(), new_key("d")[:32], new_key("d")[:32]
    rows = residents_on(street, 14, age_band="40-49", district=home)
    rows += residents_on(street, 12, age_band="20-29", district=other)
    target = residents_on(street, 1, amount=4_300, age_band="40-49", district=other)[0]
    target["merchant_key"] = f"shop-{street}-2"
    await store(app, [*rows, target])
    analyst = await staff_token(client, app, Role.ANALYST)

    by_band = await ask(
        client,
        analyst,
        measures=["spend"],
        dimensions=["age_band"],
        filters={"shopping_street": [street]},
    )
    assert by_band.status_code == 200, by_band.text
    cells = {row["age_band"]: row for row in by_band.json()["rows"]}
    assert cells["40-49"]["spend"] == 18_300

    without_one_district = await ask(
        client,
        analyst,
        measures=["spend"],
        dimensions=["age_band"],
        filters={"shopping_street": [street], "district": [home]},
    )
    assert without_one_district.status_code == 403, without_one_district.text
    # A different measure of the same cells is another figure: nothing to subtract.
    residents_only = await ask(
        client,
        analyst,
        measures=["payments"],
        dimensions=["age_band"],
        filters={"shopping_street": [street], "district": [home]},
    )
    assert residents_only.status_code == 200, residents_only.text


async def test_the_guard_remembers_past_any_number_of_fillers(
    client: httpx.AsyncClient, app: FastAPI, app_settings: Settings
) -> None:
    """Item 2: a street's total, 200 identical filler queries, then the street without its
    three residents in their 60s: refused, however many queries came between."""
    # The fillers come faster than the per-minute limit allows; this is about memory.
    app_settings.analytics_queries_per_minute = 1_000
    street, filler = new_street(), new_street()
    rows = residents_on(street, 12, age_band="40-49") + residents_on(street, 3, age_band="60-69")
    await store(app, rows + residents_on(filler, 10))
    analyst = await staff_token(client, app, Role.ANALYST)
    total = await ask(client, analyst, measures=["spend"], filters={"shopping_street": [street]})
    assert total.status_code == 200 and total.json()["rows"][0]["spend"] == 15_000
    for _ in range(200):
        assert (
            await ask(client, analyst, measures=["spend"], filters={"shopping_street": [filler]})
        ).status_code == 200
    others = [band for band in AGE_BANDS if band != "60-69"]
    attack = await ask(
        client,
        analyst,
        measures=["spend"],
        filters={"shopping_street": [street], "age_band": others},
    )
    assert attack.status_code == 403, attack.text


async def test_a_resident_active_in_ten_months_is_one_person(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    """Item 3: ten residents in one month and one more, in their 70s, paying ¥2,000 in each
    of ten months (a new pseudonym every month). The street's total minus the same without
    the 70-79 band would be that one resident's ¥20,000."""
    street = new_street()
    rows = residents_on(street, 10, day=date(2031, 1, 20))
    person = new_key("p")[:32]
    for month in range(1, 11):
        rows.append(
            fact(
                date(2031, month, 9),
                street,
                2_000,
                resident=new_key("r"),
                person=person,
                shop=f"shop-{street}-{month % 4}",
                age_band="70-79",
            )
        )
    await store(app, rows)
    analyst = await staff_token(client, app, Role.ANALYST)
    total = await ask(
        client, analyst, measures=["spend", "residents"], filters={"shopping_street": [street]}
    )
    assert total.status_code == 200, total.text
    [cell] = total.json()["rows"]
    assert (cell["spend"], cell["residents"]) == (30_000, 10)  # 11 people, rounded to 5

    others = [band for band in AGE_BANDS if band != "70-79"]
    attack = await ask(
        client,
        analyst,
        measures=["spend"],
        filters={"shopping_street": [street], "age_band": others},
    )
    assert attack.status_code == 403, attack.text


async def test_refusals_read_the_same_and_use_up_the_allowance(
    client: httpx.AsyncClient, app: FastAPI, app_settings: Settings
) -> None:
    """Item 6: a refusal by the guard and one for an exhausted allowance are the same
    problem, word for word; a refusal costs many queries of the day's allowance."""
    app.state.settings = app_settings.model_copy(
        update={"analytics_queries_per_day": 30, "analytics_refusal_cost": 20}
    )
    street, harmless = new_street(), new_street()
    rows = residents_on(street, 12, age_band="40-49") + residents_on(street, 3, age_band="60-69")
    await store(app, rows + residents_on(harmless, 10))
    analyst = await staff_token(client, app, Role.ANALYST)
    assert (
        await ask(client, analyst, measures=["spend"], filters={"shopping_street": [street]})
    ).status_code == 200  # 1 used
    others = [band for band in AGE_BANDS if band != "60-69"]
    guarded = await ask(
        client,
        analyst,
        measures=["spend"],
        filters={"shopping_street": [street], "age_band": others},
    )
    assert guarded.status_code == 403, guarded.text  # 1 + 20 used
    for _ in range(9):  # 30 used
        answered = await ask(
            client, analyst, measures=["spend"], filters={"shopping_street": [harmless]}
        )
        assert answered.status_code == 200, answered.text
    exhausted = await ask(
        client, analyst, measures=["spend"], filters={"shopping_street": [harmless]}
    )
    assert exhausted.status_code == 403, exhausted.text
    assert exhausted.json() == guarded.json()
    assert exhausted.headers["content-type"] == guarded.headers["content-type"]
    # The allowance is the analyst's own: a colleague is answered.
    colleague = await staff_token(client, app, Role.ANALYST)
    assert (
        await ask(client, colleague, measures=["spend"], filters={"shopping_street": [harmless]})
    ).status_code == 200
    async with app.state.sessionmaker() as session:
        outcomes = list(
            (
                await session.execute(
                    select(QueryLog.outcome).order_by(QueryLog.id.desc()).limit(2)
                )
            ).scalars()
        )
    assert outcomes == ["answered", "refused"]


async def test_a_street_and_the_same_street_in_one_month_differ_by_the_other_months(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    """Everyone on the street paid in February; one of them paid in March as well. The same
    people, but the street's total minus its February is that one resident's March."""
    street = new_street()
    rows = residents_on(street, 12, day=date(2031, 2, 10))
    again = fact(  # March's pseudonym, the same person
        date(2031, 3, 3),
        street,
        5_000,
        resident=new_key("r"),
        person=rows[0]["person_key"],
        shop=rows[0]["merchant_key"],
    )
    await store(app, [*rows, again])
    analyst = await staff_token(client, app, Role.ANALYST)
    total = await ask(client, analyst, measures=["spend"], filters={"shopping_street": [street]})
    assert total.status_code == 200 and total.json()["rows"][0]["spend"] == 17_000
    february = await ask(
        client,
        analyst,
        measures=["spend"],
        filters={"shopping_street": [street], "month": ["2031-02"]},
    )
    assert february.status_code == 403, february.text


async def test_the_guard_decides_as_its_rule_does_over_every_fact(app: FastAPI) -> None:
    """The guard's shortcuts (disjoint predicates, cell sizes, the rollups' members of every
    close pair counted in one statement) against the rule itself, in Python over every
    fact: a new cell is refused exactly when some earlier cell sharing a measure differs
    from it by 1..k−1 people. Residents active in several months, on several streets."""
    from analytics.guard import Published, answers_too_close, canonical, people_apart, remember

    rng = random.Random(18)
    k = 10
    months = ["2032-01", "2032-02", "2032-03"]
    streets = [new_street() for _ in range(3)]
    districts = [new_key("d")[:32] for _ in range(2)]
    bands = ["20-29", "40-49", "60-69"]
    rows = []
    for _ in range(70):
        person, band, home = new_key("p")[:32], rng.choice(bands), rng.choice(districts)
        for month in rng.sample(months, rng.choice([1, 1, 2, 3])):
            pseudonym = new_key("r")
            for _ in range(rng.choice([1, 1, 2])):
                street = rng.choice(streets)
                day = date(int(month[:4]), int(month[5:]), rng.randrange(1, 28))
                rows.append(
                    fact(
                        day,
                        street,
                        1_000,
                        resident=pseudonym,
                        person=person,
                        shop=f"shop-{street}-{rng.randrange(4)}",
                        category=rng.choice(["grocery", "cafe"]),
                        age_band=band,
                        district=home,
                    )
                )
    # Two streets' cells in a month of their own, against their grocery cells: six people
    # on both streets but never at a grocery, each a member of two cells of one side.
    april = date(2032, 4, 7)
    for n in range(18):
        person = new_key("p")[:32]
        pseudonym = new_key("r")
        for street in streets[:2]:
            rows.append(
                fact(
                    april,
                    street,
                    1_000,
                    resident=pseudonym,
                    person=person,
                    shop=f"shop-{street}-{n % 4}",
                    category="grocery" if n < 12 else "cafe",
                )
            )
    both = {"shopping_street": frozenset(streets[:2]), "month": frozenset(["2032-04"])}
    grocery = {**both, "category": frozenset(["grocery"])}
    await store(app, rows)
    names = {
        "shopping_street": "shopping_street_id",
        "district": "district_id",
        "age_band": "age_band",
        "category": "category",
        "month": "month",
    }
    shapes = [
        ("shopping_street",),
        ("district",),
        ("age_band",),
        ("shopping_street", "age_band"),
        ("shopping_street", "category"),
    ]
    values: dict[str, list[Any]] = {
        "shopping_street": streets,
        "district": districts,
        "age_band": bands,
        "category": ["grocery", "cafe"],
    }
    predicates: list[dict[str, frozenset[Any]]] = [{}, {"month": frozenset(months[:1])}, both]
    for dims in shapes:
        for _ in range(6):
            predicate: dict[str, frozenset[Any]] = {
                d: frozenset(rng.sample(values[d], rng.choice([1, 1, 2]))) for d in dims
            }
            when = rng.choice([[], [rng.choice(months)], rng.sample(months, 2)])
            if when:
                predicate["month"] = frozenset(when)
            predicates.append(predicate)

    def keeps(row: dict[str, Any], predicate: Mapping[str, frozenset[Any]]) -> bool:
        return all(row[names[name]] in allowed for name, allowed in predicate.items())

    def people(predicate: Mapping[str, frozenset[Any]]) -> int:
        return len({row["person_key"] for row in rows if keeps(row, predicate)})

    def differing(one: Mapping[str, frozenset[Any]], two: Mapping[str, frozenset[Any]]) -> int:
        return len({row["person_key"] for row in rows if keeps(row, one) != keeps(row, two)})

    def members(
        shape: tuple[str, ...], month: str, predicate: dict[str, frozenset[Any]]
    ) -> set[str]:
        """A side's rollup members: its cells of ``shape`` in the month's partition."""
        key = "person_key" if month == "*" else "resident_key"
        return {
            row[key]
            for row in rows
            if (month == "*" or row["month"] == month)
            and all(row[names[d]] in predicate[d] for d in shape)
        }

    async with app.state.sessionmaker() as session:
        # The members counted in one statement for every pair, against the sets themselves.
        pairs = [(one, two) for one in predicates for two in predicates]
        counted = await people_apart(session, pairs, k)
        assert any(c is not None and c < k for c in counted)  # close pairs were counted
        assert await people_apart(session, [(both, grocery)], k) == [6]
        for (one, two), apart in zip(pairs, counted, strict=True):
            exact = [s for s in shapes if set(s) == set(one) - {"month"}]
            other = [s for s in shapes if set(s) == set(two) - {"month"}]
            if apart is None:
                continue
            first, second = one.get("month"), two.get("month")
            month = "*"
            for mine, theirs in ((first, second), (second, first)):
                if mine is not None and len(mine) == 1 and (theirs is None or mine <= theirs):
                    month = next(iter(mine))
                    break
            a = members(exact[0] if exact else (), month, one)
            b = members(other[0] if other else (), month, two)
            assert apart == min(k, len(a - b) + len(b - a)), (one, two)
            assert apart <= differing(one, two), (one, two)

        # Decisions: every shown cell (k people or more) asked alone after a history of
        # others, against the rule over the facts.
        shown = [p for p in predicates if people(p) >= k]
        analyst = 9_000_000 + rng.randrange(10**6)
        history = [Published(p, people(p), rng.choice([1, 2, 3, 4])) for p in shown[::2]]
        history.append(Published(grocery, people(grocery), 1))
        await remember(session, analyst, history)
        decided = []
        for predicate in shown:
            for bits in (1, 4):
                new = Published(predicate, people(predicate), bits)
                expected = any(
                    old.measures & bits
                    and canonical(old.predicate) != canonical(predicate)
                    and 0 < differing(predicate, old.predicate) < k
                    for old in history
                )
                assert await answers_too_close(session, analyst, [new], k) == expected, predicate
                decided.append(expected)
        await session.rollback()
    assert True in decided and False in decided
