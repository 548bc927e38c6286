from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from machipay.schemas import StrictModel


class QueryIn(StrictModel):
    measures: list[str] = Field(min_length=1, max_length=6, examples=[["spend", "residents"]])
    dimensions: list[str] = Field(default_factory=list, max_length=4)
    filters: dict[str, list[str | int]] = Field(default_factory=dict)
    mode: Literal["threshold", "dp"] = "threshold"


class QueryOut(StrictModel):
    rows: list[dict[str, Any]]
    suppressed: int
    mode: str
    epsilon_spent: float | None
