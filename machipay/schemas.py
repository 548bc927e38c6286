"""Request/response building blocks shared by every context.

Amounts are JSON integers in [1, MACHIPAY_MAX_AMOUNT]: ``"100"``, ``100.0``, ``1e3``,
booleans, zero, negatives and larger values are refused with 422, never coerced.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Annotated, Any

from annotated_types import Interval
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    Strict,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import core_schema

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


# Ids are BIGINT: a larger number names nothing and would overflow the database driver.
MAX_ID = 2**63 - 1
Id = Annotated[int, Interval(ge=1, le=MAX_ID)]
"""A record id in a path, query or body: 1..2^63-1, anything else is a 422."""

# Characters a name must not carry: C0/C1 controls, format characters (bidi overrides and
# isolates, zero-width spaces and joiners, the BOM), private-use and surrogate code points,
# and line/paragraph separators. Each can make one name render as another (impersonation in
# P2P transfers and histories) or hide text.
_REFUSED_CATEGORIES = {
    "Cc": "control",
    "Cf": "format (invisible or bidirectional)",
    "Co": "private-use",
    "Cs": "surrogate",
    "Zl": "line-separator",
    "Zp": "paragraph-separator",
}
# Normalising can shrink a name (runs of spaces) or grow it (ligatures): the raw text may be
# somewhat longer than the bound the normalised one must meet.
_RAW_LENGTH_FACTOR = 4


def _refuse_hidden_characters(text: str) -> None:
    for char in text:
        kind = _REFUSED_CATEGORIES.get(unicodedata.category(char))
        if kind is not None:
            raise ValueError(f"{kind} characters such as U+{ord(char):04X} are not allowed")


@dataclass(frozen=True, slots=True)
class ShownText:
    """Text a person chose that other people see (display, shop, street and campaign names,
    transfer messages, addresses): ``Annotated[str, ShownText(40)]``.

    NFKC-normalised (full-width Latin and digits, half-width kana as IMEs type them become
    one form, so "ＡＢＣ" and "ABC" are the same name), trimmed, inner whitespace collapsed
    to one space; control and format characters are refused with a 422 naming their class;
    the length bounds apply to the normalised text.
    """

    max_length: int
    min_length: int = 1

    def normalize(self, value: str) -> str:
        if len(value) > self.max_length * _RAW_LENGTH_FACTOR:
            raise ValueError(f"must be at most {self.max_length} characters")
        _refuse_hidden_characters(value)
        text = " ".join(unicodedata.normalize("NFKC", value).split())
        _refuse_hidden_characters(text)
        if not self.min_length <= len(text) <= self.max_length:
            raise ValueError(
                f"must be {self.min_length} to {self.max_length} characters once normalised"
            )
        return text

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_after_validator_function(
            self.normalize, core_schema.str_schema(strict=True)
        )

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return {"type": "string", "minLength": self.min_length, "maxLength": self.max_length}
