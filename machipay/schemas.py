"""Request/response building blocks shared by every context.

Amounts are JSON integers in [1, MACHIPAY_MAX_AMOUNT]: ``"100"``, ``100.0``, ``1e3``,
booleans, zero, negatives and larger values are refused with 422, never coerced.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    model_validator,
)

from machipay.settings import get_settings
from machipay.text import nfkc_digits


class StrictModel(BaseModel):
    """Unknown fields are an error, not silently dropped; text is storable UTF-8."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _storable_text(cls, data: Any) -> Any:
        # PostgreSQL refuses NUL characters and lone surrogates in text; refuse them here
        # with a 422 rather than meet them as a database error.
        _check_text(data)
        return data


def _check_text(value: Any) -> None:
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError("text must not contain NUL characters")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ValueError("text must be valid Unicode") from exc
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_text(key)
            _check_text(item)
    elif isinstance(value, list):
        for item in value:
            _check_text(item)


def _within_max_amount(value: int) -> int:
    maximum = get_settings().max_amount
    if value > maximum:
        raise ValueError(f"must be at most {maximum} yen")
    return value


Amount = Annotated[
    int, Strict(), Field(ge=1, description="Integer yen"), AfterValidator(_within_max_amount)
]


def _typed_digits(value: Any) -> Any:
    return nfkc_digits(value) if isinstance(value, str) else value


# A number people type (a code read off a phone, an account number): full-width digits,
# spaces and hyphens as an IME enters them are normalised before validation (DESIGN.md 7).
DigitsText = Annotated[str, BeforeValidator(_typed_digits)]
