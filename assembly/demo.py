"""The small ward ``machipay demo`` starts with, so a newcomer sees everything working.

Seeded once per database (a second start finds the officer and leaves the data alone):
a login for every staff role, shops on the ward's shopping streets, funded residents,
an active 30 % / 5 % campaign approved by a second person (maker-checker), and a little
trading history paid through the real payment path, campaign rewards included.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import campaigns
from analytics.synthetic import HistoryPlan, generate_history
from assembly.seeding import SeedPlan, seed_ward
from campaigns.schemas import CampaignIn
from desk import set_staff_card
from identity import create_user
from identity.models import User
from machipay.auth import Role
from machipay.db import unit_of_work
from machipay.settings import Settings
from machipay.spending import amount_yen
from machipay.timeutil import utcnow
from merchant_api import active_merchant_views
from merchant_api.models import Merchant
from payments import pay
from wallet_api.models import Resident
from ward import ShoppingStreet, publish_notice

DEMO_PASSWORD = "machipay-demo-2026"  # noqa: S105 - the demo's printed logins
STAFF = (
    ("officer", Role.OFFICER),
    ("approver", Role.APPROVER),
    ("analyst", Role.ANALYST),
    ("operator", Role.OPERATOR),
    # Two at the help desk: a closure one of them asks for, the other approves.
    ("desk", Role.DESK),
    ("desk2", Role.DESK),
)
DESK_CARDS = {
    "desk": ("窓口 花子", "北沢まちづくりセンター"),
    "desk2": ("窓口 次郎", "代沢まちづくりセンター"),
}

DEMO_NOTICES = (
    (
        "30%ポイント還元キャンペーン実施中",
        "区内の対象店舗でのお支払いに30%のポイントを還元します(1回3,000ポイントまで、"
        "月10,000ポイントまで)。ポイントは付与から180日間有効です。",
        None,
    ),
    (
        "年末年始の窓口について",
        "12月29日から1月3日まで、区役所のまちペイ窓口はお休みです。アプリは通常どおりご利用いただけます。",
        None,
    ),
    (
        "下北沢一番街 歳末セールのお知らせ",
        "12月の週末、下北沢一番街商店街で歳末セールを開催します。",
        "kitazawa",
    ),
)


@dataclass(slots=True)
class DemoWard:
    password: str
    staff: list[tuple[str, str]] = field(default_factory=list)  # (username, role)
    resident_phone: str = ""
    shop_username: str = ""
    campaign_id: int = 0
    payments: int = 0


# Approximate centres of the districts the demo's shopping streets are in (the reference
# file has no coordinates); the ward's middle for a shop outside every street.
DISTRICT_CENTRES = {
    "kitazawa": (35.6615, 139.6680),
    "taishido": (35.6433, 139.6700),
    "wakabayashi": (35.6470, 139.6590),
    "umegaoka": (35.6560, 139.6530),
    "matsubara": (35.6590, 139.6450),
    "kyodo": (35.6490, 139.6300),
    "yoga": (35.6270, 139.6330),
    "futako_tamagawa": (35.6120, 139.6270),
    "kuhonbutsu": (35.6050, 139.6680),
    "soshigaya": (35.6430, 139.6060),
    "seijo": (35.6400, 139.5990),
    "karasuyama": (35.6680, 139.6000),
}
WARD_CENTRE = (35.6464, 139.6533)
DEMO_HOURS = ("10:00–19:00（水曜定休）", "8:00–20:00", "11:00–21:00（月曜定休）", "24時間営業")


async def pin_demo_shops(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    """The pin and hours a shop gives at application (the application page sets them for
    real shops): near its street's district, so the directory's map has something to show."""
    rng = random.Random(22)  # noqa: S311 - a reproducible demo, not secrets
    async with unit_of_work(sessionmaker) as session:
        rows = (
            await session.execute(
                select(Merchant.id, ShoppingStreet.district_id)
                .outerjoin(ShoppingStreet, ShoppingStreet.id == Merchant.shopping_street_id)
                .order_by(Merchant.id)
            )
        ).all()
        for merchant_id, district_id in rows:
            lat, lon = DISTRICT_CENTRES.get(district_id or "", WARD_CENTRE)
            await session.execute(
                update(Merchant)
                .where(Merchant.id == merchant_id)
                .values(
                    latitude=Decimal(f"{lat + rng.uniform(-0.003, 0.003):.6f}"),
                    longitude=Decimal(f"{lon + rng.uniform(-0.004, 0.004):.6f}"),
                    opening_hours=rng.choice(DEMO_HOURS),
                )
            )


async def already_seeded(session: AsyncSession) -> bool:
    found = await session.execute(select(User.id).where(User.username == "officer"))
    return found.first() is not None


async def seed_demo(
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    *,
    residents: int = 300,
    shops: int = 30,
    payments_each: int = 3,
    history_payments: int = 30_000,
) -> DemoWard | None:
    """Seed the demo ward; None if this database has it already."""
    async with sessionmaker() as session:
        if await already_seeded(session):
            return None
    ward = DemoWard(password=DEMO_PASSWORD)
    staff_ids: dict[str, int] = {}
    async with unit_of_work(sessionmaker) as session:
        for username, role in STAFF:
            user = await create_user(session, username=username, password=DEMO_PASSWORD, role=role)
            staff_ids[username] = user.id
            if username in DESK_CARDS:
                name, office = DESK_CARDS[username]
                await set_staff_card(session, user.id, display_name=name, office=office)
            ward.staff.append((username, role.value))
    seeded = await seed_ward(
        sessionmaker,
        settings,
        SeedPlan(
            residents=residents,
            merchants=shops,
            top_up=50_000,
            password=DEMO_PASSWORD,
            batch=100,
        ),
    )
    ward.resident_phone = seeded.residents[0]["phone"]
    ward.shop_username = seeded.merchants[0]["username"]
    await pin_demo_shops(sessionmaker)

    now = utcnow()
    async with unit_of_work(sessionmaker) as session:
        campaign = await campaigns.create_campaign(
            session,
            CampaignIn(
                name="せたがや 30% ポイント還元 (デモ)",
                starts_at=now - timedelta(minutes=1),
                ends_at=now + timedelta(days=30),
                resident_rate_bp=3000,
                merchant_rate_bp=500,
                budget=5_000_000,
                per_payment_cap=3_000,
                per_resident_monthly_cap=10_000,
                grant="immediate",
                points_expiry_days=180,
            ),
            actor_id=staff_ids["officer"],
        )
        await campaigns.submit(session, campaign.id, actor_id=staff_ids["officer"])
        await campaigns.approve(
            session,
            campaign.id,
            actor_id=staff_ids["approver"],
            shards=settings.campaign_budget_shards,
        )
        ward.campaign_id = campaign.id
        for title, body, district in DEMO_NOTICES:
            await publish_notice(
                session,
                title=title,
                body=body,
                district_id=district,
                author_id=staff_ids["officer"],
            )

    # A little history, paid the way residents pay: points first, rewards from the campaign.
    rewards = campaigns.CampaignEngine(shards=settings.campaign_budget_shards)
    rng = random.Random(2026)  # noqa: S311 - a reproducible demo, not secrets
    async with sessionmaker() as session:
        views = await active_merchant_views(session)
        wallet_ids = {r["wallet_id"] for r in seeded.residents}
        resident_ids = [
            user_id
            for user_id, wallet_id in (
                await session.execute(select(Resident.user_id, Resident.wallet_id))
            ).tuples()
            if wallet_id in wallet_ids
        ]
    for resident_id in resident_ids:
        for _ in range(payments_each):
            async with unit_of_work(sessionmaker) as session:
                await pay(
                    session,
                    settings,
                    resident_id=resident_id,
                    merchant=rng.choice(views),
                    amount=min(amount_yen(rng), 8_000),
                    method="static",
                    idempotency_key=uuid.uuid4().hex,
                    rewards=rewards,
                )
            ward.payments += 1
    # Three months of analytics history before this one (facts, not ledger payments), so
    # the analyst console and the campaign estimate have a past to work with.
    if history_payments:
        await generate_history(
            sessionmaker, settings, HistoryPlan(payments=history_payments, months=3)
        )
    return ward
