from __future__ import annotations

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


class BudgetOut(StrictModel):
    """What an analyst may still ask this month, and the thresholds answers follow."""

    period: str
    epsilon_monthly: float
    epsilon_spent: float
    epsilon_remaining: float
    min_residents: int
