"""A synthetic ward for load tests and demos (``machipay seed``).

Residents and shops are written in batches through each context's bulk functions, with
one shared password hash (argon2 takes ~0.2 s per hash by design; a hundred thousand would
take hours). Every resident's wallet is topped up through the real funding path, so the
books are exactly what live traffic would have written. The logins are written to a JSON
file the load test reads.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from identity.models import User
from machipay.auth.passwords import hash_password
from machipay.db import unit_of_work
from machipay.settings import Settings
from merchant_api import static_payload
from merchant_api.service import NewShop, add_shops_bulk
from wallet_api import credit_top_up
from wallet_api.service import NewResident, add_residents_bulk
from ward import list_categories, list_districts, list_shopping_streets

STORE_TYPES = (("small", 0.7), ("chain", 0.2), ("large", 0.1))
KANA_DIGITS = str.maketrans("0123456789", "０１２３４５６７８９")
# Roughly where each district's shopping street is (its station), for the directory's map
# pins; a shop on no street stands somewhere near the ward office.
STREET_CENTRES = {
    "kitazawa": (35.6616, 139.6680),  # 下北沢
    "taishido": (35.6436, 139.6709),  # 三軒茶屋
    "wakabayashi": (35.6450, 139.6600),  # 若林
    "kyodo": (35.6512, 139.6364),  # 経堂
    "umegaoka": (35.6558, 139.6533),  # 梅ヶ丘
    "matsubara": (35.6682, 139.6504),  # 明大前
    "karasuyama": (35.6681, 139.6006),  # 千歳烏山
    "soshigaya": (35.6432, 139.6094),  # 祖師ヶ谷大蔵
    "seijo": (35.6403, 139.5998),  # 成城学園前
    "yoga": (35.6265, 139.6338),  # 用賀
    "futako_tamagawa": (35.6115, 139.6268),  # 二子玉川
    "kuhonbutsu": (35.6053, 139.6614),  # 九品仏
}
WARD_OFFICE = (35.6464, 139.6532)
OPENING_HOURS = (
    "10:00〜20:00 水曜定休",
    "11:00〜22:00 無休",
    "9:00〜19:00 日曜・祝日定休",
    "7:00〜23:00 無休",
)


def _pin(rng: random.Random, centre: tuple[float, float]) -> tuple[Decimal, Decimal]:
    """A point within a few hundred metres of ``centre`` (6 decimals, as stored)."""
    lat, lon = centre
    return (
        Decimal(f"{lat + rng.uniform(-0.003, 0.003):.6f}"),
        Decimal(f"{lon + rng.uniform(-0.003, 0.003):.6f}"),
    )


@dataclass(frozen=True, slots=True)
class SeedPlan:
    residents: int
    merchants: int
    top_up: int = 30_000
    password: str = "machipay-seed-2026"  # noqa: S105 - synthetic users, written to the logins file
    batch: int = 500
    seed: int = 1
    # Shops only on the ward's first ``streets`` shopping streets (None: on any): a small
    # demo ward with a few shops on every street would show the analyst nothing but cells
    # too small to publish.
    streets: int | None = None


@dataclass(slots=True)
class SeedResult:
    password: str
    residents: list[dict[str, Any]] = field(default_factory=list)
    merchants: list[dict[str, Any]] = field(default_factory=list)

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(
            json.dumps(
                {
                    "password": self.password,
                    "residents": self.residents,
                    "merchants": self.merchants,
                },
                ensure_ascii=False,
            )
        )


async def _first_free_phone_index(session: AsyncSession) -> int:
    # Seeded phones are +8170 followed by 8 digits counted from 10,000,000; seeding again
    # continues after the ones already there.
    taken = (
        await session.execute(select(func.count()).where(User.username.like("+8170%")))
    ).scalar_one()
    return 10_000_000 + int(taken)


async def seed_ward(
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    plan: SeedPlan,
    progress: Callable[[int], None] = lambda _n: None,
) -> SeedResult:
    rng = random.Random(plan.seed)  # noqa: S311 - a reproducible synthetic ward, not secrets
    password_hash = hash_password(plan.password)
    result = SeedResult(password=plan.password)
    async with sessionmaker() as session:
        districts = [d.id for d in await list_districts(session)]
        street_districts = {s.id: s.district_id for s in await list_shopping_streets(session)}
        streets = sorted(street_districts)[: plan.streets]
        categories = [c.code for c in await list_categories(session)]
        phone_index = await _first_free_phone_index(session)
        shop_index = int(
            (
                await session.execute(select(func.count()).where(User.username.like("seed-shop-%")))
            ).scalar_one()
        )

    for start in range(0, plan.merchants, plan.batch):
        count = min(plan.batch, plan.merchants - start)
        shops = []
        for n in range(shop_index + start, shop_index + start + count):
            street = rng.choice(streets) if rng.random() < 0.8 else None
            centre = (
                WARD_OFFICE
                if street is None
                else STREET_CENTRES.get(street_districts[street], WARD_OFFICE)
            )
            latitude, longitude = _pin(rng, centre)
            shops.append(
                NewShop(
                    name=f"まちの店 {n + 1}号",
                    name_kana=f"マチノミセ {str(n + 1).translate(KANA_DIGITS)}",
                    category=rng.choice(categories),
                    store_type=rng.choices(
                        [t for t, _ in STORE_TYPES], [w for _, w in STORE_TYPES]
                    )[0],
                    shopping_street_id=street,
                    owner_username=f"seed-shop-{n + 1}",
                    latitude=latitude,
                    longitude=longitude,
                    opening_hours=rng.choice(OPENING_HOURS),
                )
            )
        async with unit_of_work(sessionmaker) as session:
            merchants = await add_shops_bulk(session, shops, password_hash=password_hash)
            for shop, merchant in zip(shops, merchants, strict=True):
                result.merchants.append(
                    {
                        "id": merchant.id,
                        "username": shop.owner_username,
                        "qr_payload": await static_payload(session, settings, merchant),
                        "shopping_street_id": merchant.shopping_street_id,
                    }
                )
        progress(count)

    for start in range(0, plan.residents, plan.batch):
        count = min(plan.batch, plan.residents - start)
        people = [
            NewResident(
                phone=f"+8170{phone_index + n}",
                display_name=f"住民{phone_index + n - 10_000_000 + 1}",
                birth_year=2026 - rng.choice(range(18, 90)),
                district_id=rng.choice(districts),
            )
            for n in range(start, start + count)
        ]
        async with unit_of_work(sessionmaker) as session:
            residents = await add_residents_bulk(session, people, password_hash=password_hash)
            for resident in residents:
                if plan.top_up:
                    await credit_top_up(
                        session,
                        settings,
                        event_id=f"seed:{resident.wallet_id}",
                        wallet_id=resident.wallet_id,
                        amount=plan.top_up,
                        source="seed",
                    )
                result.residents.append(
                    {
                        "phone": "0" + (resident.phone or "").removeprefix("+81"),
                        "wallet_id": resident.wallet_id,
                    }
                )
        progress(count)
    return result
