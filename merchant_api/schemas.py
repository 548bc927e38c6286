from __future__ import annotations

from datetime import date, datetime
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
    bank: BankIn
    # Default: the platform's MACHIPAY_SETTLEMENT_SCHEDULE.
    settlement_schedule: Literal["daily", "weekly", "monthly"] | None = None


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


class PayoutOut(StrictModel):
    id: int
    merchant_id: int
    amount: int
    status: Literal["pending", "sent", "paid", "failed"]
    file_id: int | None
    created_at: datetime
    sent_at: datetime | None
    resolved_at: datetime | None
    failure_reason: str | None


class SettlementOut(StrictModel):
    id: int
    closing_date: date
    schedule: str
    period_start: datetime | None
    period_end: datetime
    status: Literal["settled", "carried_forward"]
    payments: int
    gross_sales: int
    refund_count: int
    refunds: int
    campaign_cashback: int
    adjustments: int
    total: int
    fees: int
    net_payout: int
    payout: PayoutOut | None


class SettlementPage(StrictModel):
    items: list[SettlementOut]
    next_cursor: int | None


class StatementLineOut(StrictModel):
    kind: Literal["payment", "refund"]
    id: str
    payment_id: str
    amount: int
    points: int
    money: int
    created_at: datetime


class SettlementDetailOut(SettlementOut):
    lines: list[StatementLineOut]


class SettlementRunIn(StrictModel):
    as_of: date


class SettlementRunOut(StrictModel):
    as_of: date
    merchants: int
    settled: int
    carried_forward: int
    payout_total: int
    fees: int
    campaign_funded: int
    failures: list[str]


class PayoutPage(StrictModel):
    items: list[PayoutOut]
    next_cursor: int | None


class PayoutFileIn(StrictModel):
    transfer_date: date | None = None


class HeldPayoutOut(StrictModel):
    """A pending payout left out of the file (its bank details cannot be written)."""

    payout_id: int
    merchant_id: int
    amount: int
    reason: str


class PayoutFileOut(StrictModel):
    id: int
    transfer_date: date
    count: int
    total: int
    sha256: str
    created_at: datetime
    download: str
    held: list[HeldPayoutOut] = Field(default_factory=list)


class PayoutResultsOut(StrictModel):
    """What an import does: once confirmed, what it did; while pending, what it would do
    if confirmed now."""

    import_id: int
    status: Literal["pending", "confirmed"]
    paid: int
    failed: int
    unchanged: int
    paid_amount: int
    failed_amount: int


class PayoutResultImportOut(StrictModel):
    id: int
    status: Literal["pending", "confirmed"]
    results: int
    sha256: str
    imported_by: int
    imported_at: datetime
    confirmed_by: int | None
    confirmed_at: datetime | None
