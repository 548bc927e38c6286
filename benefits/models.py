"""Benefit tables: the distributions, their recipients, one grant per recipient, the audit
trail."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, CheckConstraint, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from machipay.db import Base, BigId, UTCDateTime

STATUSES = ("draft", "submitted", "approved", "running", "done")


class Benefit(Base):
    """A ward benefit (給付): the same points for every recipient, from the ward's money.

    ``recipient_rule`` is how the recipients are chosen: ``{"all": true}``,
    ``{"district_ids": [...], "age_bands": [...]}`` (empty lists mean all) or
    ``{"list": true}`` (wallet ids given or uploaded: the rows of ``benefit_recipients``).
    A rule is turned into rows at submission, so what is approved is a fixed list and a
    fixed budget (points × recipients).
    """

    __tablename__ = "benefits"
    __table_args__ = (
        CheckConstraint(
            "status IN ('draft', 'submitted', 'approved', 'running', 'done')", name="status"
        ),
        CheckConstraint("points_per_recipient > 0", name="points_positive"),
        CheckConstraint("points_expiry_days > 0", name="expiry_positive"),
        CheckConstraint("granted >= 0 AND granted <= recipients", name="granted_within"),
        Index("ix_benefits_status_starts", "status", "starts_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(80))
    purpose: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(12))
    points_per_recipient: Mapped[int] = mapped_column(BigInteger)
    points_expiry_days: Mapped[int] = mapped_column(Integer)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    recipient_rule: Mapped[dict[str, Any]] = mapped_column(JSON)
    recipients: Mapped[int] = mapped_column(BigInteger)  # fixed at submission
    budget: Mapped[int] = mapped_column(BigInteger)  # points × recipients, fixed at submission
    granted: Mapped[int] = mapped_column(BigInteger)
    # The run grants in resident-id order: every recipient up to this id has their grant.
    granted_through: Mapped[int] = mapped_column(BigInteger)
    created_by: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    submitted_by: Mapped[int | None] = mapped_column(BigInteger)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    approved_by: Mapped[int | None] = mapped_column(BigInteger)
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    funding_entry_id: Mapped[int | None] = mapped_column(BigInteger)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class BenefitRecipient(Base):
    """One resident the benefit goes to."""

    __tablename__ = "benefit_recipients"

    benefit_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    resident_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)


class BenefitGrant(Base):
    """The grant of one recipient: its primary key makes a second grant impossible, whoever
    runs the benefit and however often (a crash, a re-run, two runs at once)."""

    __tablename__ = "benefit_grants"

    benefit_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    resident_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    entry_id: Mapped[int] = mapped_column(BigInteger)
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime)


class BenefitAudit(Base):
    """Who changed a benefit, when, and what changed (before → after)."""

    __tablename__ = "benefit_audit"
    __table_args__ = (Index("ix_benefit_audit_benefit", "benefit_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    benefit_id: Mapped[int] = mapped_column(BigInteger)
    actor_id: Mapped[int | None] = mapped_column(BigInteger)  # None: the system (the run)
    action: Mapped[str] = mapped_column(String(20))
    changes: Mapped[dict[str, Any]] = mapped_column(JSON)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
