from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field

from machipay.schemas import Id, ShownText, StrictModel


class BankIn(StrictModel):
    bank_code: str = Field(min_length=1, max_length=4, examples=["0001"])
    branch_code: str = Field(min_length=1, max_length=3, examples=["001"])
    account_type: Literal["ordinary", "current", "savings"]
    account_number: str = Field(min_length=1, max_length=7)
    account_name_kana: str = Field(min_length=1, max_length=48, examples=["ｼﾓｷﾀﾔｵﾔ"])


class MerchantApplicationIn(StrictModel):
    name: Annotated[str, ShownText(60)] = Field(examples=["下北沢八百屋"])
    name_kana: Annotated[str, ShownText(80)] = Field(examples=["シモキタザワヤオヤ"])
    category: str = Field(min_length=1, max_length=32, examples=["grocery"])
    store_type: Literal["small", "chain", "large"]
    shopping_street_id: Id | None = Field(default=None, strict=True)
    postal_code: str = Field(min_length=7, max_length=9, examples=["155-0031"])
    address: Annotated[str, ShownText(200)]
    owner_username: str = Field(min_length=3, max_length=64)
    owner_password: str = Field(min_length=1, max_length=256)
    # Where a password-reset code for the owner goes (optional: without it, a forgotten
    # password is the ward's help desk's job).
    owner_phone: str | None = Field(default=None, min_length=10, max_length=20)
    bank: BankIn
    # Default: the platform's MACHIPAY_SETTLEMENT_SCHEDULE.
    settlement_schedule: Literal["daily", "weekly", "monthly"] | None = None


class SuspensionIn(StrictModel):
    """Why the ward suspends a shop: recorded on the shop and shown to it."""

    reason: Annotated[str, ShownText(200)] = Field(examples=["売上の不正な計上の疑いがあるため"])


class MerchantStatusOut(StrictModel):
    id: int
    status: str
    # Pending with one approval given: a different member of staff gives the second.
    awaiting_second_approval: bool = False


class MerchantApplicationOut(StrictModel):
    """A shop as the ward console lists it (no bank details: the console does not need them)."""

    id: int
    name: str
    name_kana: str
    category: str
    store_type: str
    shopping_street_id: int | None
    postal_code: str
    address: str
    status: str
    created_at: datetime
    first_approved_by: int | None = None
    first_approved_at: datetime | None = None
    # The latest suspension (a suspended shop's row says why).
    suspension_reason: str | None = None
    suspended_at: datetime | None = None


class MerchantProfileOut(StrictModel):
    """The signed-in shop as its dashboard shows it."""

    id: int
    name: str
    name_kana: str
    category: str
    store_type: str
    shopping_street_id: int | None
    shopping_street: str | None
    status: str
    # While suspended: the ward's reason and when (null otherwise).
    suspension_reason: str | None = None
    suspended_at: datetime | None = None


class StaffIn(StrictModel):
    username: str = Field(min_length=3, max_length=64, examples=["yaoya.tanaka"])
    password: str = Field(min_length=1, max_length=256)
    # None (or omitted): MACHIPAY_MERCHANT_STAFF_REFUND_LIMIT.
    refund_limit: int | None = Field(default=None, strict=True, ge=0)


class StaffLimitIn(StrictModel):
    refund_limit: int | None = Field(strict=True, ge=0)


class StaffOut(StrictModel):
    id: int
    username: str
    refund_limit: int
    # True while the platform's default applies (it follows a change of the default).
    refund_limit_is_default: bool
    added_at: datetime


class StaffListOut(StrictModel):
    items: list[StaffOut]
    default_refund_limit: int
    max_staff: int


class StaffPasswordIn(StrictModel):
    new_password: str = Field(min_length=1, max_length=256)
