from __future__ import annotations

from datetime import datetime
from decimal import Decimal
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
    # Where the shop is, pinned on the page's map or typed (both or neither, in Japan).
    latitude: Decimal | None = Field(default=None, ge=20, le=46, max_digits=12)
    longitude: Decimal | None = Field(default=None, ge=122, le=154, max_digits=12)
    opening_hours: Annotated[str, ShownText(200)] | None = None
    # The shop's own telephone, as residents see it in the directory.
    phone: str | None = Field(default=None, min_length=10, max_length=20)
    # The terms (加盟店規約): the application page always asks; when given it must be true.
    consent: Literal[True] | None = None


class ShopRowIn(StrictModel):
    """The text cells of one row of the import, held to the application's bounds."""

    name: Annotated[str, ShownText(60)]
    name_kana: Annotated[str, ShownText(80)]
    address: Annotated[str, ShownText(200)]
    opening_hours: Annotated[str, ShownText(200)] | None = None
    shopping_street_id: Id | None = Field(default=None, strict=True)
    settlement_schedule: Literal["daily", "weekly", "monthly"] | None = None


class BatchApprovalIn(StrictModel):
    # A page of the queue at most: the console approves what an officer has looked at.
    merchant_ids: list[Id] = Field(min_length=1, max_length=500)


class BatchRefusal(StrictModel):
    id: int
    type: str


class BatchApprovalOut(StrictModel):
    first_approvals: list[int]
    activated: list[int]
    refused: list[BatchRefusal]


class RejectionIn(StrictModel):
    # Read by the applicant: bounded, NFKC, no control or format characters.
    reason: Annotated[str, ShownText(500)]


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


class BankOut(StrictModel):
    bank_code: str
    branch_code: str
    account_type: str
    account_number: str
    account_name_kana: str


class LocationOut(StrictModel):
    lat: float
    lon: float


class MerchantApplicationDetailOut(MerchantApplicationOut):
    """The whole application as an officer reviews it: bank, owner, location, decisions."""

    name_latin: str
    bank: BankOut
    owner_username: str | None
    owner_phone: str | None
    phone: str | None
    opening_hours: str | None
    location: LocationOut | None
    settlement_schedule: str | None
    consented_at: datetime | None
    first_approved_by_name: str | None = None
    approved_at: datetime | None = None
    approved_by_name: str | None = None
    rejection_reason: str | None = None
    rejected_at: datetime | None = None
    rejected_by_name: str | None = None
    import_ref: str | None = None
    imported_by_name: str | None = None


class OwnApplicationOut(StrictModel):
    """An applicant's own application: where it stands and, if refused, why."""

    id: int
    name: str
    status: str
    applied_at: datetime
    first_approval_given: bool
    approved_at: datetime | None
    rejected_at: datetime | None
    rejection_reason: str | None


class ImportRowError(StrictModel):
    row: int
    column: str
    message: str


class ShopImportOut(StrictModel):
    dry_run: bool
    rows: int
    valid: int
    already_imported: int
    created: int
    error_count: int
    errors: list[ImportRowError]


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
