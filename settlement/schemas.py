"""Settlement's requests and responses: shops' statements, the operator's runs, payout
files and the bank's results."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import Field

from machipay.schemas import StrictModel


class PayoutOut(StrictModel):
    id: int
    merchant_id: int | None  # None: a closed wallet's refund to the resident
    resident_id: int | None = None
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
    merchant_id: int | None
    resident_id: int | None = None
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
