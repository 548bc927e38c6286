"""Residents, their points lots and their wallet history."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, SmallInteger, String, text
from sqlalchemy.orm import Mapped, mapped_column

from machipay.db import Base, BigId, UTCDateTime


class Resident(Base):
    __tablename__ = "residents"
    __table_args__ = (
        CheckConstraint("status IN ('active', 'frozen', 'closed')", name="status"),
        # A closed wallet gives its number back (a new registration may use it).
        CheckConstraint("(status = 'closed') = (phone IS NULL)", name="phone_until_closed"),
    )

    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id"), primary_key=True)
    wallet_id: Mapped[str] = mapped_column(String(32), unique=True)
    phone: Mapped[str | None] = mapped_column(String(16), unique=True)  # E.164; None once closed
    display_name: Mapped[str] = mapped_column(String(40))
    birth_year: Mapped[int] = mapped_column(SmallInteger)
    district_id: Mapped[str] = mapped_column(String(32), ForeignKey("ward_districts.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # active | frozen (the desk stopped money leaving it) | closed (refunded, number freed).
    status: Mapped[str] = mapped_column(String(8), default="active", server_default="active")
    # Until the resident proves the phone with the SMS code, the wallet can neither pay nor
    # receive (require_wallet_can_move_money): a number typed by someone else holds nothing.
    phone_verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class FundingReference(Base):
    """Where a wallet is paid into from outside: its own virtual bank account number
    (振込専用口座, at the operator's receiving branch) and its convenience-store payment
    number. Random, allocated once per wallet and kept: a number printed on a slip or saved
    in a banking app must keep naming the same wallet, and neither can be derived from
    the wallet id (nor the wallet id from them)."""

    __tablename__ = "wallet_funding_references"

    resident_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("residents.user_id"), primary_key=True
    )
    virtual_account: Mapped[str] = mapped_column(String(7), unique=True)
    konbini_number: Mapped[str] = mapped_column(String(12), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class PointsLot(Base):
    """Points granted together, spent oldest-expiry first and expired as a lot.

    The resident's points account balance equals the sum of ``remaining`` over all lots
    (the expiry job zeroes an expired lot as it posts the breakage, noting what it took in
    ``expired``). A lot has one source, a campaign's reward or a ward benefit (給付), whose
    breakage account takes its expired points.
    """

    __tablename__ = "wallet_points_lots"
    __table_args__ = (
        CheckConstraint("num_nonnulls(campaign_id, benefit_id) = 1", name="one_source"),
        # A benefit grants each of its recipients one lot, whoever runs it, however often.
        Index(
            "ux_wallet_points_lots_benefit_resident",
            "benefit_id",
            "resident_id",
            unique=True,
            postgresql_where=text("benefit_id IS NOT NULL"),
        ),
        Index("ix_wallet_points_lots_resident_expiry", "resident_id", "expires_at", "id"),
        # The lots a payment may spend from: spent lots pile up, this index stays small.
        Index(
            "ix_wallet_points_lots_live",
            "resident_id",
            "expires_at",
            "id",
            postgresql_where=text("remaining > 0"),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    resident_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("residents.user_id"))
    amount: Mapped[int] = mapped_column(BigInteger)
    remaining: Mapped[int] = mapped_column(BigInteger)
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    campaign_id: Mapped[int | None] = mapped_column(BigInteger)
    benefit_id: Mapped[int | None] = mapped_column(BigInteger)
    entry_id: Mapped[int] = mapped_column(BigInteger)
    expired: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    # The payment whose campaign reward this lot is (pay_…), so a refund can take it back.
    source_reference: Mapped[str | None] = mapped_column(String(32))


class WalletTransaction(Base):
    """One line of a resident's history, written with the ledger entry it describes."""

    __tablename__ = "wallet_transactions"
    __table_args__ = (
        Index("ix_wallet_transactions_resident_id", "resident_id", "id"),
        Index("ix_wallet_transactions_resident_kind_created", "resident_id", "kind", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    resident_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("residents.user_id"))
    reference: Mapped[str] = mapped_column(String(40))
    kind: Mapped[str] = mapped_column(String(20))
    amount: Mapped[int] = mapped_column(BigInteger)
    money_change: Mapped[int] = mapped_column(BigInteger)
    points_change: Mapped[int] = mapped_column(BigInteger)
    counterparty: Mapped[str | None] = mapped_column(String(80))
    message: Mapped[str | None] = mapped_column(String(200))
    entry_id: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
