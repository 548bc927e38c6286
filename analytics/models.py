"""The analytics store: facts without direct identifiers, and the log of every query.

Analysts' queries read these tables only. A fact never holds a name, phone, wallet id,
resident id, merchant id or exact time: the resident is a keyed hash that changes every
period (so pseudonyms cannot be joined across periods), the shop is a keyed hash used only
to apply the dominance rule, and time is a local date and hour.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Date,
    Float,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from machipay.db import Base, BigId, UTCDateTime


class Fact(Base):
    __tablename__ = "analytics_facts"
    __table_args__ = (
        Index("ix_analytics_facts_month_street", "month", "shopping_street_id"),
        Index("ix_analytics_facts_local_date", "local_date"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    # The outbox row it came from: applying the same row twice is a no-op.
    source_id: Mapped[int] = mapped_column(BigInteger, unique=True)
    kind: Mapped[str] = mapped_column(String(8))  # payment | refund (negative amounts)
    period: Mapped[str] = mapped_column(String(7))  # the pseudonym key's period, YYYY-MM
    resident_key: Mapped[str] = mapped_column(String(32))
    # The same resident in every month (analytics/pseudonyms.py): disclosure control and
    # the differencing guard only, never in an answer.
    person_key: Mapped[str] = mapped_column(String(32))
    merchant_key: Mapped[str] = mapped_column(String(32))
    age_band: Mapped[str] = mapped_column(String(5))
    district_id: Mapped[str] = mapped_column(String(32))
    shopping_street_id: Mapped[int | None] = mapped_column(BigInteger)
    category: Mapped[str] = mapped_column(String(32))
    store_type: Mapped[str] = mapped_column(String(8))
    amount: Mapped[int] = mapped_column(BigInteger)
    points_used: Mapped[int] = mapped_column(BigInteger)
    reward: Mapped[int] = mapped_column(BigInteger)
    local_date: Mapped[date] = mapped_column(Date)
    month: Mapped[str] = mapped_column(String(7))
    week: Mapped[str] = mapped_column(String(8))  # ISO week, 2026-W47
    weekday: Mapped[int] = mapped_column(SmallInteger)  # 1 = Monday
    hour: Mapped[int] = mapped_column(SmallInteger)
    # The campaign that rewarded the payment, if any (refunds: none).
    campaign_id: Mapped[int | None] = mapped_column(BigInteger)


class DataMonthBudget(Base):
    """The differential-privacy loss (ε) spent on one month of facts, by every analyst
    together, over the data's whole life (DP mode)."""

    __tablename__ = "analytics_dp_month_budgets"

    month: Mapped[str] = mapped_column(String(7), primary_key=True)  # the facts' YYYY-MM
    epsilon_spent: Mapped[float] = mapped_column(Float, default=0.0)


class QueryLog(Base):
    """Who asked what, and what they were shown (every query, answered or refused)."""

    __tablename__ = "analytics_query_log"
    __table_args__ = (Index("ix_analytics_query_log_analyst", "analyst_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    analyst_id: Mapped[int] = mapped_column(BigInteger)
    asked_at: Mapped[datetime] = mapped_column(UTCDateTime)
    query: Mapped[dict[str, object]] = mapped_column(JSON)
    outcome: Mapped[str] = mapped_column(String(16))  # answered | refused
    cells: Mapped[int] = mapped_column(BigInteger)
    suppressed: Mapped[int] = mapped_column(BigInteger)
    epsilon: Mapped[float | None] = mapped_column(Float)


class GuardCell(Base):
    """A cell published to an analyst (analytics/guard.py): which residents it was about
    (its predicate), how many people they were, and which measures were shown. One row
    per analyst and distinct predicate, however often it was asked."""

    __tablename__ = "analytics_guard_cells"
    __table_args__ = (
        Index(
            "ix_analytics_guard_cells_analyst_fingerprint",
            "analyst_id",
            "fingerprint",
            unique=True,
        ),
        Index("ix_analytics_guard_cells_analyst_persons", "analyst_id", "persons"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    analyst_id: Mapped[int] = mapped_column(BigInteger)
    fingerprint: Mapped[str] = mapped_column(String(32))  # of the canonical predicate
    predicate: Mapped[str] = mapped_column(Text)  # canonical JSON: dimension -> values
    persons: Mapped[int] = mapped_column(BigInteger)
    measures: Mapped[int] = mapped_column(SmallInteger)  # bit set (guard.MEASURE_BITS)


class QueryAllowance(Base):
    """How much of the day's query allowance an analyst has used (answers cost one,
    refusals more: analytics/guard.py)."""

    __tablename__ = "analytics_query_allowances"

    analyst_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)  # Tokyo
    used: Mapped[int] = mapped_column(BigInteger)


# -- rollups (analytics/rollups.py) ---------------------------------------------------


class RollupCell(Base):
    __tablename__ = "analytics_rollup_cells"

    shape: Mapped[str] = mapped_column(String(24), primary_key=True)
    month: Mapped[str] = mapped_column(String(7), primary_key=True)
    cell: Mapped[str] = mapped_column(String(120), primary_key=True)
    payments: Mapped[int] = mapped_column(BigInteger)
    spend: Mapped[int] = mapped_column(BigInteger)
    points_used: Mapped[int] = mapped_column(BigInteger)
    rewards: Mapped[int] = mapped_column(BigInteger)
    residents: Mapped[int] = mapped_column(BigInteger)


class RollupMember(Base):
    __tablename__ = "analytics_rollup_members"

    shape: Mapped[str] = mapped_column(String(24), primary_key=True)
    month: Mapped[str] = mapped_column(String(7), primary_key=True)
    cell: Mapped[str] = mapped_column(String(120), primary_key=True)
    resident_key: Mapped[str] = mapped_column(String(32), primary_key=True)


class RollupShop(Base):
    __tablename__ = "analytics_rollup_shops"

    shape: Mapped[str] = mapped_column(String(24), primary_key=True)
    month: Mapped[str] = mapped_column(String(7), primary_key=True)
    cell: Mapped[str] = mapped_column(String(120), primary_key=True)
    merchant_key: Mapped[str] = mapped_column(String(32), primary_key=True)
    spend: Mapped[int] = mapped_column(BigInteger)


# -- DP mode's cells (analytics/dp_cells.py) -----------------------------------------


class DpCell(Base):
    """One pseudonym's facts in one month and fine cell, summed with every amount clamped
    to the cap first (``DpCellsCap``): what DP mode truncates, read instead of the facts.
    Each fact is in two rows: by street and store type (``week`` empty), and by week
    (street -1, store type empty)."""

    __tablename__ = "analytics_dp_cells"

    month: Mapped[str] = mapped_column(String(7), primary_key=True)
    # Second in the key: a query reads one kind of row of its months, each kind together.
    week: Mapped[str] = mapped_column(String(8), primary_key=True)
    resident_key: Mapped[str] = mapped_column(String(32), primary_key=True)
    age_band: Mapped[str] = mapped_column(String(5), primary_key=True)
    district_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    # 0 for a shop on no street (ids start at 1): a key column cannot be NULL.
    shopping_street_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    store_type: Mapped[str] = mapped_column(String(8), primary_key=True)
    facts: Mapped[int] = mapped_column(Integer)  # payments and refunds: the row limit's count
    payments: Mapped[int] = mapped_column(Integer)
    amount: Mapped[int] = mapped_column(BigInteger)
    points_used: Mapped[int] = mapped_column(BigInteger)
    reward: Mapped[int] = mapped_column(BigInteger)


class DpCellsCap(Base):
    """The amount cap ``analytics_dp_cells`` was built with (one row; none: not built)."""

    __tablename__ = "analytics_dp_cells_cap"
    __table_args__ = (CheckConstraint("id = 1", name="one_row"),)

    id: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    amount_cap: Mapped[int] = mapped_column(BigInteger)


class BenefitReportCell(Base):
    """The last published population of one cell of a benefit's report (a district or the
    total, one measure): who stood behind the figure and with what, so the next report can
    tell how many residents a difference of the two would be about
    (analytics/benefit_guard.py). One row per benefit, cell and measure, shared by every
    viewer of the report."""

    __tablename__ = "analytics_benefit_report_cells"

    benefit_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    cell: Mapped[str] = mapped_column(String(40), primary_key=True)  # district id or "*"
    measure: Mapped[str] = mapped_column(String(8), primary_key=True)
    # Residents with a nonzero figure, ascending, and their figures (same order).
    members: Mapped[list[int]] = mapped_column(ARRAY(BigInteger))
    figures: Mapped[list[int]] = mapped_column(ARRAY(BigInteger))
    published_at: Mapped[datetime] = mapped_column(UTCDateTime)
