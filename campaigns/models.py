"""Campaign tables: definitions, budget shards, rewards, per-resident tallies, the audit trail."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, CheckConstraint, Index, Integer, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from machipay.db import Base, BigId, UTCDateTime

STATUSES = ("draft", "submitted", "approved", "ended", "closed", "withdrawn")


class Campaign(Base):
    """A points-back campaign (DESIGN.md 5).

    ``status`` is what was decided (draft → submitted → approved → ended → closed, or a
    draft or submitted one withdrawn by its authors); whether
    an approved campaign is ``active`` or already over is read from its window, so nobody
    has to flip it at midnight.
    """

    __tablename__ = "campaigns"
    __table_args__ = (
        CheckConstraint(
            "status IN ('draft', 'submitted', 'approved', 'ended', 'closed', 'withdrawn')",
            name="status",
        ),
        CheckConstraint("ends_at > starts_at", name="window"),
        CheckConstraint("resident_rate_bp BETWEEN 0 AND 10000", name="resident_rate"),
        CheckConstraint("merchant_rate_bp BETWEEN 0 AND 10000", name="merchant_rate"),
        CheckConstraint("budget > 0", name="budget_positive"),
        CheckConstraint("grant_timing IN ('immediate', 'deferred')", name="grant_timing"),
        Index("ix_campaigns_status_window", "status", "starts_at", "ends_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(80))
    status: Mapped[str] = mapped_column(String(12))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    resident_rate_bp: Mapped[int] = mapped_column(Integer)
    merchant_rate_bp: Mapped[int] = mapped_column(Integer)
    budget: Mapped[int] = mapped_column(BigInteger)
    per_payment_cap: Mapped[int | None] = mapped_column(BigInteger)
    per_resident_cap: Mapped[int | None] = mapped_column(BigInteger)
    per_resident_monthly_cap: Mapped[int | None] = mapped_column(BigInteger)
    min_payment: Mapped[int] = mapped_column(BigInteger)
    grant_timing: Mapped[str] = mapped_column(String(10))
    points_expiry_days: Mapped[int] = mapped_column(Integer)
    # {"shopping_street_ids": [...], "categories": [...], "store_types": [...],
    #  "district_ids": [...]}; an empty list means "all".
    eligibility: Mapped[dict[str, Any]] = mapped_column(JSON)
    # [{"store_type": "small", "in_shopping_street": true|false|null, "resident_rate_bp": 2000}]
    tiers: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    created_by: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    submitted_by: Mapped[int | None] = mapped_column(BigInteger)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    approved_by: Mapped[int | None] = mapped_column(BigInteger)
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    end_reason: Mapped[str | None] = mapped_column(String(20))  # manual | budget | window
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    withdrawn_by: Mapped[int | None] = mapped_column(BigInteger)
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    funding_entry_id: Mapped[int | None] = mapped_column(BigInteger)
    return_entry_id: Mapped[int | None] = mapped_column(BigInteger)


class BudgetShard(Base):
    """A slice of a campaign's budget. Rewards reserve from one slice with a conditional
    UPDATE, so concurrent payments rarely wait on each other and the sum never goes below
    zero (DESIGN.md 3.3)."""

    __tablename__ = "campaign_budget_shards"
    __table_args__ = (CheckConstraint("remaining >= 0", name="remaining_not_negative"),)

    campaign_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    shard: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    remaining: Mapped[int] = mapped_column(BigInteger)


class CampaignReward(Base):
    """One reward of one payment: resident points or merchant cashback.

    ``amount`` is the reward as granted (or reserved); ``revoked`` what refunds took back
    and ``unrecovered`` what they could not; ``status`` is ``granted`` once posted to the
    ledger, ``pending`` while a deferred grant waits. An immediate reward is legs of its
    payment's entry; a deferred one gets an entry of its own (``entry_id``). A resident
    reward's points lot carries the payment's reference.
    The shop's street, category and store type are copied so the admin totals need no
    join across contexts.
    """

    __tablename__ = "campaign_rewards"
    __table_args__ = (
        CheckConstraint("kind IN ('resident', 'merchant')", name="kind"),
        CheckConstraint("status IN ('pending', 'granted')", name="status"),
        CheckConstraint("amount >= 0 AND revoked >= 0 AND unrecovered >= 0", name="amounts"),
        Index("ix_campaign_rewards_payment", "payment_reference"),
        Index("ix_campaign_rewards_campaign_status", "campaign_id", "status", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    campaign_id: Mapped[int] = mapped_column(BigInteger)
    payment_reference: Mapped[str] = mapped_column(String(32))  # the payment's pay_… id
    kind: Mapped[str] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(String(10))
    resident_id: Mapped[int] = mapped_column(BigInteger)
    merchant_id: Mapped[int] = mapped_column(BigInteger)
    shopping_street_id: Mapped[int | None] = mapped_column(BigInteger)
    category: Mapped[str] = mapped_column(String(32))
    store_type: Mapped[str] = mapped_column(String(10))
    district_id: Mapped[str | None] = mapped_column(String(32))
    payment_amount: Mapped[int] = mapped_column(BigInteger)
    amount: Mapped[int] = mapped_column(BigInteger)
    revoked: Mapped[int] = mapped_column(BigInteger)
    # Revoked points the resident had already spent and the refund could not cover.
    unrecovered: Mapped[int] = mapped_column(BigInteger)
    month: Mapped[str] = mapped_column(String(7))  # the payment's month in Tokyo, "2026-11"
    paid_at: Mapped[datetime] = mapped_column(UTCDateTime)
    granted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    entry_id: Mapped[int | None] = mapped_column(BigInteger)


class ResidentTally(Base):
    """Points a resident has earned from a campaign in a month (for the per-resident caps).

    Written under the resident's row lock that every payment takes, so read-then-write is
    safe without locking anything shared.
    """

    __tablename__ = "campaign_resident_tallies"
    __table_args__ = (CheckConstraint("amount >= 0", name="amount_not_negative"),)

    campaign_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    resident_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    month: Mapped[str] = mapped_column(String(7), primary_key=True)
    amount: Mapped[int] = mapped_column(BigInteger)


class CampaignAudit(Base):
    """Who changed a campaign, when, and what changed (before → after)."""

    __tablename__ = "campaign_audit"
    __table_args__ = (Index("ix_campaign_audit_campaign", "campaign_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    campaign_id: Mapped[int] = mapped_column(BigInteger)
    actor_id: Mapped[int | None] = mapped_column(BigInteger)  # None: the system (budget, batch)
    action: Mapped[str] = mapped_column(String(20))
    changes: Mapped[dict[str, Any]] = mapped_column(JSON)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
