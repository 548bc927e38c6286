from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from machipay.schemas import StrictModel


class QueryIn(StrictModel):
    measures: list[str] = Field(min_length=1, max_length=6, examples=[["spend", "residents"]])
    dimensions: list[str] = Field(default_factory=list, max_length=4)
    filters: dict[str, list[str | int]] = Field(default_factory=dict)
    mode: Literal["threshold", "dp"] = "threshold"
    epsilon: float | None = Field(
        default=None,
        gt=0,
        le=10,
        description="DP mode only: the privacy loss this query spends (default: the setting).",
    )


class QueryOut(StrictModel):
    rows: list[dict[str, Any]]
    suppressed: int
    mode: str
    epsilon_spent: float | None
    epsilon_remaining: float | None = None


class MonthBudgetOut(StrictModel):
    month: str
    epsilon_spent: float
    epsilon_remaining: float


class BudgetOut(StrictModel):
    """The ε left of the data months asked (shared by all analysts, never refilled), and
    the thresholds answers follow. ``epsilon_monthly`` is each data month's ε in all;
    ``epsilon_spent`` / ``epsilon_remaining`` are those of the most spent month asked (the
    most a query over all of them may still spend)."""

    period: str  # the month asked, or "first..last"
    epsilon_monthly: float
    epsilon_spent: float
    epsilon_remaining: float
    months: list[MonthBudgetOut]
    min_residents: int


class TotalsRow(StrictModel):
    key: str | None  # the street id, category code or store type; null: shops in no 商店街
    name: str | None
    # Null when the row is suppressed (too few residents or shops behind it); else rounded
    # like every published figure (counts to 5, points and yen to 3 significant figures).
    payments: int | None
    resident_points: int | None
    merchant_cashback: int | None
    suppressed: bool = False
    # Why it is hidden: few_residents (fewer than k behind it), dominant_shop (too few
    # shops, or one or two make up most of it), complementary (hidden with a sibling row
    # that subtraction would otherwise give back); null when shown.
    suppressed_reason: Literal["few_residents", "dominant_shop", "complementary"] | None = None


class TotalsOut(StrictModel):
    campaign_id: int
    by: Literal["shopping_street", "category", "store_type"]
    rows: list[TotalsRow]
    suppressed: int = 0
    min_residents: int
    as_of: datetime
