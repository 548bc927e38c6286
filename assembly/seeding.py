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


@dataclass(frozen=True, slots=True)
class SeedPlan:
    residents: int
    merchants: int
    top_up: int = 30_000
    password: str = "machipay-seed-2026"  # noqa: S105 - synthetic users, written to the logins file
    batch: int = 500
    seed: int = 1


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
        streets = [s.id for s in await list_shopping_streets(session)]
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
            shops.append(
                NewShop(
                    name=f"まちの店 {n + 1}号",
                    name_kana=f"マチノミセ {str(n + 1).translate(KANA_DIGITS)}",
                    category=rng.choice(categories),
                    store_type=rng.choices(
                        [t for t, _ in STORE_TYPES], [w for _, w in STORE_TYPES]
                    )[0],
                    shopping_street_id=rng.choice(streets) if rng.random() < 0.8 else None,
                    owner_username=f"seed-shop-{n + 1}",
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
