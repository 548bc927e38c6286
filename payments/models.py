"""Payments, the points lots each drew on, refunds, and shops' dynamic charges."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from machipay.db import Base, BigId, UTCDateTime


class Payment(Base):
    """A resident paid a shop: points first, then money, in one ledger entry."""

    __tablename__ = "payments"
    __table_args__ = (
        Index("ix_payments_merchant_created", "merchant_id", "created_at"),
        Index("ix_payments_resident_created", "resident_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    reference: Mapped[str] = mapped_column(String(32), unique=True)
    resident_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("residents.user_id"))
    merchant_id: Mapped[int] = mapped_column(BigInteger)
    amount: Mapped[int] = mapped_column(BigInteger)
    points_used: Mapped[int] = mapped_column(BigInteger)
    money_used: Mapped[int] = mapped_column(BigInteger)
    method: Mapped[str] = mapped_column(String(8))  # static, dynamic, cpm
    charge_id: Mapped[int | None] = mapped_column(BigInteger)
    entry_id: Mapped[int] = mapped_column(BigInteger)
    resident_reward: Mapped[int] = mapped_column(BigInteger)
    merchant_cashback: Mapped[int] = mapped_column(BigInteger)
    rewards_granted: Mapped[bool] = mapped_column()
    refunded_amount: Mapped[int] = mapped_column(BigInteger)
    refunded_points: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # The shop's user who took it at the till (a code captured, a charge shown); None for
    # a resident paying at the sticker on their own (店頭QR).
    taken_by: Mapped[int | None] = mapped_column(BigInteger)


class PaymentLotUse(Base):
    """Which points lots a payment drew on, so a refund can give the points back to them."""

    __tablename__ = "payment_lot_uses"

    payment_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("payments.id"), primary_key=True)
    lot_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("wallet_points_lots.id"), primary_key=True
    )
    amount: Mapped[int] = mapped_column(BigInteger)
    returned: Mapped[int] = mapped_column(BigInteger)


class Refund(Base):
    __tablename__ = "refunds"
    __table_args__ = (Index("ix_refunds_payment", "payment_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    reference: Mapped[str] = mapped_column(String(32), unique=True)
    payment_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("payments.id"))
    amount: Mapped[int] = mapped_column(BigInteger)
    points_back: Mapped[int] = mapped_column(BigInteger)
    money_back: Mapped[int] = mapped_column(BigInteger)
    entry_id: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Charge(Base):
    """A dynamic QR: one amount, one payment, a few minutes."""

    __tablename__ = "merchant_charges"
    __table_args__ = (Index("ix_merchant_charges_merchant_created", "merchant_id", "created_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    reference: Mapped[str] = mapped_column(String(25), unique=True)
    merchant_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("merchants.id"))
    amount: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(8))  # open, paid
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    payment_id: Mapped[int | None] = mapped_column(BigInteger)
    # Who asked for it at the till: the payment that pays it is theirs.
    created_by: Mapped[int | None] = mapped_column(BigInteger)
