"""Campaign requests and responses. Rates are basis points (3000 = 30 %), money integer yen."""

from __future__ import annotations

import itertools
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AwareDatetime, Field, Strict, model_validator

from machipay.schemas import Id, ShownText, StrictModel

StoreType = Literal["small", "chain", "large"]
Rate = Annotated[int, Strict(), Field(ge=0, le=10_000, description="Basis points: 3000 = 30 %")]
Yen = Annotated[int, Strict(), Field(ge=1, le=10**12, description="Integer yen")]
MAX_WINDOW_DAYS = 366


class Eligibility(StrictModel):
    """Which payments a campaign covers; an empty list means "all"."""

    shopping_street_ids: list[Annotated[Id, Strict()]] = Field(default_factory=list, max_length=500)
    categories: list[Annotated[str, Field(min_length=1, max_length=32)]] = Field(
        default_factory=list, max_length=100
    )
    store_types: list[StoreType] = Field(default_factory=list, max_length=3)
    district_ids: list[Annotated[str, Field(min_length=1, max_length=32)]] = Field(
        default_factory=list, max_length=100
    )

    @model_validator(mode="after")
    def _no_repeats(self) -> Eligibility:
        for name in ("shopping_street_ids", "categories", "store_types", "district_ids"):
            values = getattr(self, name)
            if len(set(values)) != len(values):
                raise ValueError(f"eligibility.{name} lists a value twice")
        return self


class TierIn(StrictModel):
    """A resident rate for one store type, optionally only for shops in (or outside) a 商店街."""

    store_type: StoreType
    in_shopping_street: bool | None = None
    resident_rate_bp: Rate


class CampaignTerms(StrictModel):
    name: Annotated[str, ShownText(80)]
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    resident_rate_bp: Rate
    merchant_rate_bp: Rate = 0
    budget: Yen
    per_payment_cap: Yen | None = None
    per_resident_cap: Yen | None = None
    per_resident_monthly_cap: Yen | None = None
    min_payment: Annotated[int, Strict(), Field(ge=0, le=10**9)] = 0
    grant: Literal["immediate", "deferred"] = "immediate"
    points_expiry_days: Annotated[int, Strict(), Field(ge=1, le=3650)] = 180
    eligibility: Eligibility = Field(default_factory=Eligibility)
    tiers: list[TierIn] = Field(default_factory=list, max_length=12)

    @model_validator(mode="after")
    def _makes_sense(self) -> CampaignTerms:
        if self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        if (self.ends_at - self.starts_at).days > MAX_WINDOW_DAYS:
            raise ValueError(f"a campaign runs at most {MAX_WINDOW_DAYS} days")
        if (
            self.resident_rate_bp == 0
            and self.merchant_rate_bp == 0
            and not any(t.resident_rate_bp for t in self.tiers)
        ):
            raise ValueError("a campaign with every rate at 0 rewards nothing")
        seen = set()
        for tier in self.tiers:
            key = (tier.store_type, tier.in_shopping_street)
            if key in seen:
                raise ValueError(f"two tiers for store type {tier.store_type!r} overlap")
            seen.add(key)
            allowed = self.eligibility.store_types
            if allowed and tier.store_type not in allowed:
                raise ValueError(
                    f"tier for store type {tier.store_type!r}, which eligibility excludes"
                )
        caps = [
            ("per_payment_cap", self.per_payment_cap),
            ("per_resident_monthly_cap", self.per_resident_monthly_cap),
            ("per_resident_cap", self.per_resident_cap),
        ]
        present = [(name, cap) for name, cap in caps if cap is not None]
        for (small, low), (large, high) in itertools.pairwise(present):
            if low > high:
                raise ValueError(f"{small} ({low}) is above {large} ({high})")
        for name, cap in present:
            if cap > self.budget:
                raise ValueError(f"{name} ({cap}) is above the whole budget ({self.budget})")
        return self


class CampaignIn(CampaignTerms):
    pass


class CampaignPatch(StrictModel):
    """Change a draft: the fields given replace the draft's (then the whole is re-checked)."""

    name: Annotated[str, ShownText(80)] | None = None
    starts_at: AwareDatetime | None = None
    ends_at: AwareDatetime | None = None
    resident_rate_bp: Rate | None = None
    merchant_rate_bp: Rate | None = None
    budget: Yen | None = None
    per_payment_cap: Yen | None = None
    per_resident_cap: Yen | None = None
    per_resident_monthly_cap: Yen | None = None
    min_payment: Annotated[int, Strict(), Field(ge=0, le=10**9)] | None = None
    grant: Literal["immediate", "deferred"] | None = None
    points_expiry_days: Annotated[int, Strict(), Field(ge=1, le=3650)] | None = None
    eligibility: Eligibility | None = None
    tiers: list[TierIn] | None = None


class Decision(StrictModel):
    reason: str | None = Field(default=None, max_length=500)


class WithdrawalIn(StrictModel):
    """Why a draft or a submission is withdrawn (optional, kept in the audit trail)."""

    reason: Annotated[str, ShownText(500)] | None = None


class RewardTotals(StrictModel):
    payments: int
    resident_points: int
    merchant_cashback: int
    pending: int
    revoked: int
    unrecovered: int


class CampaignOut(CampaignTerms):
    id: int
    status: Literal["draft", "submitted", "approved", "active", "ended", "closed", "withdrawn"]
    budget_remaining: int
    rewards: RewardTotals
    end_reason: str | None
    created_by: int
    created_at: datetime
    submitted_by: int | None
    submitted_at: datetime | None
    approved_by: int | None
    approved_at: datetime | None
    ended_at: datetime | None
    closed_at: datetime | None
    withdrawn_by: int | None = None
    withdrawn_at: datetime | None = None


class CampaignPage(StrictModel):
    items: list[CampaignOut]
    next_cursor: int | None


class AuditOut(StrictModel):
    id: int
    actor_id: int | None
    actor: str | None = None  # the staff member's login name (None: the system)
    action: str
    changes: dict[str, object]
    at: datetime


class BurnPoint(StrictModel):
    at: datetime  # the end of the period (or now, for the period under way)
    used: int  # rewards reserved from the budget up to ``at``, net of revocations
    remaining: int


class BurnOut(StrictModel):
    """A funded campaign's budget over time, from the database: the whole curve however
    late a console opens it."""

    campaign_id: int
    budget: int
    funded_at: datetime | None
    bucket: Literal["hour", "day"]
    points: list[BurnPoint]
    as_of: datetime


# -- what residents see (public): the shop directory and the campaigns running now ----------


class LocationOut(StrictModel):
    lat: float
    lon: float


class ShopCampaignOut(StrictModel):
    """The campaign a payment here would earn points from now, at this rate."""

    resident_rate_bp: int
    id: int
    name: str
    ends_at: datetime
    min_payment: int


class DirectoryShopOut(StrictModel):
    id: int
    name: str
    name_kana: str
    category: str  # the code (GET /merchant-categories)
    category_name: str
    store_type: str
    shopping_street: str | None
    shopping_street_id: int | None
    district: str | None
    district_id: str | None
    address: str
    location: LocationOut | None
    opening_hours: str | None
    phone: str | None
    campaign: ShopCampaignOut | None


class DirectoryPageOut(StrictModel):
    items: list[DirectoryShopOut]
    next_cursor: str | None


class NamedOut(StrictModel):
    id: str
    name: str


class CampaignWhereOut(StrictModel):
    """Where it applies; an empty list means "all"."""

    shopping_streets: list[NamedOut]
    categories: list[NamedOut]
    store_types: list[str]
    districts: list[NamedOut]


class CurrentTierOut(StrictModel):
    store_type: str
    in_shopping_street: bool | None
    resident_rate_bp: int


class CurrentCampaignOut(StrictModel):
    id: int
    name: str
    starts_at: datetime
    ends_at: datetime
    resident_rate_bp: int
    max_resident_rate_bp: int
    tiers: list[CurrentTierOut]
    min_payment: int
    per_payment_cap: int | None
    per_resident_monthly_cap: int | None
    per_resident_cap: int | None
    grant: Literal["immediate", "deferred"]
    where: CampaignWhereOut
    # Only with a resident's token: the points they may still earn from it (the tighter of
    # the monthly and whole-campaign caps); null: no cap.
    cap_left: int | None = None


class CurrentCampaignsOut(StrictModel):
    items: list[CurrentCampaignOut]
