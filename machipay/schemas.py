"""Request/response building blocks shared by every context.

Amounts are JSON integers in [1, MACHIPAY_MAX_AMOUNT]: ``"100"``, ``100.0``, ``1e3``,
booleans, zero, negatives and larger values are refused with 422, never coerced.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, Strict

from machipay.settings import get_settings


class StrictModel(BaseModel):
    """Unknown fields are an error, not silently dropped."""

    model_config = ConfigDict(extra="forbid")


def _within_max_amount(value: int) -> int:
    maximum = get_settings().max_amount
    if value > maximum:
        raise ValueError(f"must be at most {maximum} yen")
    return value


Amount = Annotated[
    int, Strict(), Field(ge=1, description="Integer yen"), AfterValidator(_within_max_amount)
]
