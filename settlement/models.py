"""Settlements (精算), payouts (振込), the Zengin files that sent them and the bank's
answers."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    LargeBinary,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from machipay.db import Base, BigId, UTCDateTime


class Settlement(Base):
    """A shop's statement for one settlement period (精算明細), written once.

    The figures come from the ledger: every posting on the shop's payable made in
    ``[period_start, period_end)``, classified by what its entry was. A statement whose
    net is below the payout minimum is ``carried_forward``: no money moves, and the next
    statement covers the same postings again, with the new ones.
    """

    __tablename__ = "merchant_settlements"
    __table_args__ = (
        UniqueConstraint("merchant_id", "closing_date"),
        CheckConstraint("status IN ('settled', 'carried_forward')", name="status"),
        CheckConstraint("fees >= 0 AND net_payout >= 0", name="amounts"),
        Index("ix_merchant_settlements_merchant_id", "merchant_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    merchant_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("merchants.id"))
    schedule: Mapped[str] = mapped_column(String(8))
    closing_date: Mapped[date] = mapped_column(Date)  # the last business day it covers
    period_start: Mapped[datetime | None] = mapped_column(UTCDateTime)
    period_end: Mapped[datetime] = mapped_column(UTCDateTime)  # the cut-off, exclusive
    status: Mapped[str] = mapped_column(String(16))
    payments: Mapped[int] = mapped_column(BigInteger)
    gross_sales: Mapped[int] = mapped_column(BigInteger)
    refund_count: Mapped[int] = mapped_column(BigInteger)
    refunds: Mapped[int] = mapped_column(BigInteger)
    campaign_cashback: Mapped[int] = mapped_column(BigInteger)
    adjustments: Mapped[int] = mapped_column(BigInteger)  # e.g. a failed payout come back
    total: Mapped[int] = mapped_column(BigInteger)  # what the payable moved in the period
    fees: Mapped[int] = mapped_column(BigInteger)
    net_payout: Mapped[int] = mapped_column(BigInteger)
    # Points spent at the shop + cashback: drawn from the ward's money (bank:city).
    campaign_funded: Mapped[int] = mapped_column(BigInteger)
    entry_id: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class PayoutFile(Base):
    """A Zengin 総合振込 file as it was handed to the bank, kept byte for byte."""

    __tablename__ = "payout_files"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    transfer_date: Mapped[date] = mapped_column(Date)
    count: Mapped[int] = mapped_column(BigInteger)
    total: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    content: Mapped[bytes] = mapped_column(LargeBinary)
    created_by: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Payout(Base):
    """A bank transfer: pending → sent (in a file) → paid or failed.

    Either to a shop (its settlement's net) or, when the help desk closes a wallet, to the
    resident (the money left in it: the ward's refund on service termination)."""

    __tablename__ = "merchant_payouts"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'sent', 'paid', 'failed')", name="status"),
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint(
            "(merchant_id IS NOT NULL AND settlement_id IS NOT NULL AND resident_id IS NULL)"
            " OR (merchant_id IS NULL AND settlement_id IS NULL AND resident_id IS NOT NULL)",
            name="one_payee",
        ),
        Index("ix_merchant_payouts_status", "status", "id"),
        Index("ix_merchant_payouts_merchant_id", "merchant_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    settlement_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("merchant_settlements.id"), unique=True
    )
    merchant_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("merchants.id"))
    resident_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("residents.user_id"))
    amount: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(8))
    # The account as it was when the payout was made: a later change must not redirect it.
    bank_code: Mapped[str] = mapped_column(String(4))
    branch_code: Mapped[str] = mapped_column(String(3))
    account_type: Mapped[str] = mapped_column(String(8))
    account_number: Mapped[str] = mapped_column(String(7))
    account_name_kana: Mapped[str] = mapped_column(String(60))
    file_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("payout_files.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    failure_reason: Mapped[str | None] = mapped_column(String(200))
    result_entry_id: Mapped[int | None] = mapped_column(BigInteger)


class PayoutResultImport(Base):
    """The bank's result file as one operator imported it: it moves money only once a
    second operator confirms it (DESIGN.md 7), and then exactly as it was imported."""

    __tablename__ = "payout_result_imports"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'confirmed')", name="status"),
        Index("ix_payout_result_imports_status", "status", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    status: Mapped[str] = mapped_column(String(10))
    # [[payout_id, "paid" | "failed", reason | null], ...] as parsed from the file.
    outcomes: Mapped[list[list[Any]]] = mapped_column(JSON)
    sha256: Mapped[str] = mapped_column(String(64))
    imported_by: Mapped[int] = mapped_column(BigInteger)
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime)
    confirmed_by: Mapped[int | None] = mapped_column(BigInteger)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
