"""The small ward ``machipay demo`` starts with, so a newcomer sees one true story.

Seeded once per database (a second start finds the officer and leaves the data alone).
Six weeks of a ward's life are replayed through the real services, each at its own past
instant (the product's clock held by :func:`machipay.timeutil.held_clock`, the ledger's
postings stamped at the same instant: :mod:`ledger.replay`):

- a login for every staff role; shops on the ward's shopping streets (with map pins and
  opening hours); residents topped up through the funding path;
- a campaign that ran and ended (20 % / 3 %), one running now (30 % / 5 %) and one not
  yet started, each written by the officer and approved by a second person;
- a benefit (給付) approved by two people and granted;
- every day's payments, paid the way residents pay (points first, campaign rewards);
- each Monday a settlement of the week before, the payouts in a Zengin file, and two days
  later the bank's result imported by one operator and confirmed by another;
- analytics' facts built from exactly those payments by the outbox consumer, so the analyst
  console, the shops' statements and ``machipay verify`` tell the same story.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import campaigns
import ledger
import settlement
from analytics import ingest_all
from assembly.seeding import SeedPlan, seed_ward
from benefits import run_benefits
from benefits import service as benefit_service
from benefits.schemas import BenefitIn, RecipientsIn
from campaigns.schemas import CampaignIn
from desk import set_staff_card
from identity import create_user
from identity.models import User
from machipay.auth import Role
from machipay.db import unit_of_work
from machipay.settings import Settings
from machipay.spending import amount_yen
from machipay.timeutil import TOKYO, HeldClock, held_clock, to_tokyo, utcnow
from merchant_api import MerchantView, active_merchant_views, shops_to_settle
from payments import pay
from settlement.payouts import list_payouts
from wallet_api.models import Resident
from ward import publish_notice

DEMO_PASSWORD = "machipay-demo-2026"  # noqa: S105 - the demo's printed logins
STAFF = (
    ("officer", Role.OFFICER),
    ("approver", Role.APPROVER),
    ("analyst", Role.ANALYST),
    # Two operators: the bank's payout result is imported by one, confirmed by the other.
    ("operator", Role.OPERATOR),
    ("operator2", Role.OPERATOR),
    # Two at the help desk: a closure one of them asks for, the other approves.
    ("desk", Role.DESK),
    ("desk2", Role.DESK),
)
DESK_CARDS = {
    "desk": ("窓口 花子", "北沢まちづくりセンター"),
    "desk2": ("窓口 次郎", "代沢まちづくりセンター"),
}
TOP_UP = 50_000
# A resident keeps this much of the top-up unspent (the history never runs a wallet dry).
KEEP_UNSPENT = 5_000
# Residents shop from ten in the morning to nine at night, busiest around noon and evening.
HOUR_WEIGHTS = {10: 5, 11: 8, 12: 12, 13: 9, 14: 6, 15: 6, 16: 7, 17: 10, 18: 12, 19: 10, 20: 6}
# A transaction per this many payments: fewer round trips, and a failure loses little.
PAYMENTS_PER_TRANSACTION = 25
# The streets the demo's shops are on: enough shops on each for the analyst's cells to pass
# disclosure control (three shops at least, none dominant).
SHOPPING_STREETS = 6
PAST_CAMPAIGN_DAYS = 21
BENEFIT_DISTRICTS = ["kitazawa", "taishido", "kyodo"]

DEMO_NOTICES = (
    (
        "30%ポイント還元キャンペーン実施中",
        "区内の対象店舗でのお支払いに30%のポイントを還元します(1回3,000ポイントまで、"
        "月10,000ポイントまで)。ポイントは付与から180日間有効です。",
        None,
    ),
    (
        "年末 商店街 10%還元キャンペーンのお知らせ",
        "来週から、商店街の加盟店でのお支払いに10%のポイントを還元します。",
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
    campaign_id: int = 0  # the one running now
    past_campaign_id: int = 0
    upcoming_campaign_id: int = 0
    benefit_id: int = 0
    payments: int = 0
    settlements: int = 0
    payout_files: int = 0
    facts: int = 0
    first_day: date | None = None


async def already_seeded(session: AsyncSession) -> bool:
    found = await session.execute(select(User.id).where(User.username == "officer"))
    return found.first() is not None


def _at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=TOKYO)


def _campaign_terms(
    name: str, starts: date, ends: date, resident_bp: int, merchant_bp: int, budget: int
) -> CampaignIn:
    return CampaignIn(
        name=name,
        starts_at=_at(starts, 0),
        ends_at=_at(ends, 0),
        resident_rate_bp=resident_bp,
        merchant_rate_bp=merchant_bp,
        budget=budget,
        per_payment_cap=3_000,
        per_resident_monthly_cap=10_000,
        grant="immediate",
        points_expiry_days=180,
    )


async def _approved_campaign(
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    clock: HeldClock | None,
    staff: dict[str, int],
    terms: CampaignIn,
    *,
    written: datetime,
    approved: datetime,
) -> int:
    """The officer writes and submits; the approver (a second person) approves a day later."""
    if clock is not None:
        clock.at = written
    async with unit_of_work(sessionmaker) as session:
        campaign = await campaigns.create_campaign(session, terms, actor_id=staff["officer"])
        await campaigns.submit(session, campaign.id, actor_id=staff["officer"])
    if clock is not None:
        clock.at = approved
    async with unit_of_work(sessionmaker) as session:
        await campaigns.approve(
            session, campaign.id, actor_id=staff["approver"], shards=settings.campaign_budget_shards
        )
    return campaign.id


def _day_times(
    rng: random.Random, day: date, count: int, before: datetime | None
) -> list[datetime]:
    """The instants of a day's payments, in order. Today (``before``: the demo's start):
    the share of the shops' day gone by, fitted into the hours since midnight, so that the
    shops have sales today whenever the demo starts."""
    hours = rng.choices(list(HOUR_WEIGHTS), list(HOUR_WEIGHTS.values()), k=count)
    times = sorted(_at(day, h) + timedelta(seconds=rng.randrange(3600)) for h in hours)
    opens, closes = _at(day, min(HOUR_WEIGHTS)), _at(day, max(HOUR_WEIGHTS) + 1)
    if before is None or before >= closes:
        return times
    midnight = _at(day, 0)
    gone = max(0.25, (before - opens) / (closes - opens))
    kept = sorted(rng.sample(times, max(1, round(count * gone))))
    return [midnight + (t - opens) / (closes - opens) * (before - midnight) for t in kept]


async def seed_demo(
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    *,
    residents: int = 300,
    shops: int = 40,
    days: int = 42,
    payments_per_day: int = 50,
) -> DemoWard | None:
    """Seed the demo ward; None if this database has it already."""
    async with sessionmaker() as session:
        if await already_seeded(session):
            return None
    ward = DemoWard(password=DEMO_PASSWORD)
    started = utcnow()
    today = to_tokyo(started).date()
    first = today - timedelta(days=days)
    ward.first_day = first
    rng = random.Random(2026)  # noqa: S311 - a reproducible demo, not secrets
    replay = ledger.replaying_sessionmaker(sessionmaker)
    staff: dict[str, int] = {}

    with held_clock(_at(first - timedelta(days=2), 9)) as clock:
        async with unit_of_work(replay) as session:
            for username, role in STAFF:
                user = await create_user(
                    session, username=username, password=DEMO_PASSWORD, role=role
                )
                staff[username] = user.id
                if username in DESK_CARDS:
                    name, office = DESK_CARDS[username]
                    await set_staff_card(session, user.id, display_name=name, office=office)
                ward.staff.append((username, role.value))
        # A campaign that has run its three weeks and ended (only in a history long enough).
        if days >= PAST_CAMPAIGN_DAYS + 7:
            ward.past_campaign_id = await _approved_campaign(
                replay,
                settings,
                clock,
                staff,
                _campaign_terms(
                    "商店街応援 20% ポイント還元",
                    first,
                    first + timedelta(days=PAST_CAMPAIGN_DAYS),
                    2000,
                    300,
                    1_500_000,
                ),
                written=_at(first - timedelta(days=2), 10),
                approved=_at(first - timedelta(days=1), 10),
            )
        clock.at = _at(first - timedelta(days=1), 11)
        seeded = await seed_ward(
            replay,
            settings,
            SeedPlan(
                residents=residents,
                merchants=shops,
                top_up=TOP_UP,
                password=DEMO_PASSWORD,
                batch=100,
                streets=SHOPPING_STREETS,
            ),
        )
        ward.resident_phone = seeded.residents[0]["phone"]
        ward.shop_username = seeded.merchants[0]["username"]
        async with sessionmaker() as session:
            views = await active_merchant_views(session)
            merchant_ids = await shops_to_settle(session)
            wallet_ids = {r["wallet_id"] for r in seeded.residents}
            resident_ids = [
                user_id
                for user_id, wallet_id in (
                    await session.execute(select(Resident.user_id, Resident.wallet_id))
                ).tuples()
                if wallet_id in wallet_ids
            ]
        spent = dict.fromkeys(resident_ids, 0)
        last_file: int | None = None

        for offset in range(days + 1):
            day = first + timedelta(days=offset)
            if day == max(first, today - timedelta(days=11)):
                ward.campaign_id = await _approved_campaign(
                    replay,
                    settings,
                    clock,
                    staff,
                    _campaign_terms(
                        "せたがや 30% ポイント還元",
                        today - timedelta(days=10),
                        today + timedelta(days=21),
                        3000,
                        500,
                        5_000_000,
                    ),
                    # No history (days=0): written and approved just now.
                    written=min(_at(day, 8), started - timedelta(minutes=2)),
                    approved=min(_at(day, 8, 30), started - timedelta(minutes=1)),
                )
            if offset == 10 and days >= 14:
                ward.benefit_id = await _benefit(replay, clock, staff, day)
            if offset == 14 and ward.benefit_id:
                clock.at = _at(day, 9)
                await run_benefits(replay, benefit_id=ward.benefit_id)
            # The morning's office work, unless the demo starts before it would happen today.
            office_hours = day < today or _at(day, 10) <= started
            if office_hours and day.isoweekday() == 1 and offset > 0 and days >= 7:
                last_file = await _settle_week(replay, settings, clock, merchant_ids, ward, day)
            if office_hours and day.isoweekday() == 3 and last_file is not None:  # bank's answer
                await _bank_answers(replay, clock, staff, last_file, day)
                last_file = None
            await _trade(
                replay,
                settings,
                clock,
                rng,
                ward,
                views=views,
                spent=spent,
                times=_day_times(
                    rng, day, payments_per_day, before=started if day == today else None
                )
                if days
                # No history (a test's small ward): the payments of the minute before now.
                else [
                    started - timedelta(seconds=payments_per_day - n)
                    for n in range(payments_per_day)
                ],
            )

    # Now, on the wall clock: a campaign not yet started, and the ward's notices.
    ward.upcoming_campaign_id = await _approved_campaign(
        sessionmaker,
        settings,
        None,
        staff,
        _campaign_terms(
            "年末 商店街 10% 還元",
            today + timedelta(days=7),
            today + timedelta(days=37),
            1000,
            0,
            2_000_000,
        ),
        written=started,
        approved=started,
    )
    async with unit_of_work(sessionmaker) as session:
        for title, body, district in DEMO_NOTICES:
            await publish_notice(
                session, title=title, body=body, district_id=district, author_id=staff["officer"]
            )
    # Analytics' facts are these payments, by the consumer the server runs too.
    ward.facts = await ingest_all(sessionmaker, settings)
    return ward


async def _benefit(
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: HeldClock,
    staff: dict[str, int],
    day: date,
) -> int:
    """A benefit written and submitted by the officer, approved by the approver, starting
    four days later (all before the shops open: the replay's clock only moves forward)."""
    clock.at = _at(day, 8)
    async with unit_of_work(sessionmaker) as session:
        benefit = await benefit_service.create_benefit(
            session,
            BenefitIn(
                name="子育て応援ポイント",
                purpose="物価高騰対策として、対象地区の住民に区内で使えるポイントを給付します。",
                points_per_recipient=3_000,
                points_expiry_days=180,
                starts_at=_at(day + timedelta(days=4), 9),
                recipients=RecipientsIn(district_ids=BENEFIT_DISTRICTS),
            ),
            actor_id=staff["officer"],
        )
        await benefit_service.submit(session, benefit.id, actor_id=staff["officer"])
    clock.at = _at(day, 8, 30)
    async with unit_of_work(sessionmaker) as session:
        await benefit_service.approve(session, benefit.id, actor_id=staff["approver"])
    return benefit.id


async def _settle_week(
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    clock: HeldClock,
    merchant_ids: list[int],
    ward: DemoWard,
    monday: date,
) -> int | None:
    """Settle every shop through Sunday, then write the week's Zengin file (operator)."""
    clock.at = _at(monday, 9)
    for merchant_id in merchant_ids:
        async with unit_of_work(sessionmaker) as session:
            statement = await settlement.settle_merchant(
                session, settings, merchant_id, monday - timedelta(days=1), now=clock.at
            )
        ward.settlements += statement is not None
    clock.at = _at(monday, 9, 30)
    async with unit_of_work(sessionmaker) as session:
        made = await settlement.create_payout_file(
            session, settings, transfer_date=settlement.next_weekday(monday), actor_id=None
        )
    if made is None:
        return None
    ward.payout_files += 1
    return made.file.id


async def _bank_answers(
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: HeldClock,
    staff: dict[str, int],
    file_id: int,
    day: date,
) -> None:
    """Every transfer of the file went through: one operator imports the bank's result,
    the other confirms it (maker-checker), which posts the payouts as paid."""
    async with sessionmaker() as session:
        sent = await list_payouts(session, status="sent", limit=10_000)
    payout_ids = sorted(p.id for p in sent if p.file_id == file_id)
    csv = "payout_id,result,reason\n" + "".join(f"{p},paid,\n" for p in payout_ids)
    clock.at = _at(day, 9, 40)
    async with unit_of_work(sessionmaker) as session:
        record, _ = await settlement.import_results(session, csv, actor_id=staff["operator"])
    clock.at = _at(day, 9, 50)
    async with unit_of_work(sessionmaker) as session:
        await settlement.confirm_results(session, record.id, actor_id=staff["operator2"])


async def _trade(
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    clock: HeldClock,
    rng: random.Random,
    ward: DemoWard,
    *,
    views: list[MerchantView],
    spent: dict[int, int],
    times: list[datetime],
) -> None:
    """A day's payments at their instants, through the payment path residents use."""
    # A fresh engine a day, which keeps the day's campaigns (it refreshes on the wall
    # clock, which hardly moves while weeks are replayed; campaigns start and end at
    # midnight, and each rule checks its window against the payment's instant).
    rewards = campaigns.CampaignEngine(
        shards=settings.campaign_budget_shards, refresh_seconds=float(24 * 3600)
    )
    residents = list(spent)
    for start in range(0, len(times), PAYMENTS_PER_TRANSACTION):
        async with unit_of_work(sessionmaker) as session:
            for moment in times[start : start + PAYMENTS_PER_TRANSACTION]:
                resident_id = rng.choice(residents)
                amount = min(amount_yen(rng), 8_000)
                if spent[resident_id] + amount > TOP_UP - KEEP_UNSPENT:
                    continue
                clock.at = moment
                await ledger.stamp_postings_at(session, moment)
                await pay(
                    session,
                    settings,
                    resident_id=resident_id,
                    merchant=rng.choice(views),
                    amount=amount,
                    method="static",
                    idempotency_key=uuid.uuid4().hex,
                    rewards=rewards,
                )
                spent[resident_id] += amount
                ward.payments += 1
