"""The help desk's (窓口) own records: who the desk staff are, the append-only audit of
every look-up and action, closure requests, and the cash taken at a counter."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, CheckConstraint, Date, ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from machipay.db import Base, BigId, UTCDateTime


class DeskStaff(Base):
    """What a resident and a receipt may show of a member of desk staff: a display name and
    the office (never the login name, which is half of a credential)."""

    __tablename__ = "desk_staff"

    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id"), primary_key=True)
    display_name: Mapped[str] = mapped_column(String(40))
    office: Mapped[str] = mapped_column(String(40))


class DeskAudit(Base):
    """One look-up (hit or miss) or one action of desk staff, written once: a trigger refuses
    UPDATE and DELETE (desk_audit_append_only), as the ledger's do. The resident reads the
    rows about their account (GET /api/v1/wallet/access-log)."""

    __tablename__ = "desk_audit"
    __table_args__ = (
        CheckConstraint(
            "action IN ('lookup', 'freeze', 'unfreeze', 'district', 'closure_request',"
            " 'closure_approve', 'top_up', 'cash_declare', 'cash_confirm')",
            name="action",
        ),
        Index("ix_desk_audit_resident_id", "resident_id", "id"),
        Index("ix_desk_audit_staff_id", "staff_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    staff_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id"))
    action: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(String(200))
    # A look-up: what was searched ("phone" or "wallet_id") and the value as normalised.
    searched_by: Mapped[str | None] = mapped_column(String(10))
    searched_value: Mapped[str | None] = mapped_column(String(40))
    # None: a look-up that found nobody.
    resident_id: Mapped[int | None] = mapped_column(BigInteger)
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class DeskClosure(Base):
    """A request to close a wallet and refund its money: pending until a second person
    (another desk member or an approver) approves it."""

    __tablename__ = "desk_closures"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'approved')", name="status"),
        # One open request per wallet.
        Index(
            "ux_desk_closures_pending",
            "resident_id",
            unique=True,
            postgresql_where=text("status = 'pending'"),
        ),
        Index("ix_desk_closures_status", "status", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    resident_id: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(10))
    reason: Mapped[str] = mapped_column(String(200))
    bank_code: Mapped[str] = mapped_column(String(4))
    branch_code: Mapped[str] = mapped_column(String(3))
    account_type: Mapped[str] = mapped_column(String(8))
    account_number: Mapped[str] = mapped_column(String(7))
    account_name_kana: Mapped[str] = mapped_column(String(60))
    requested_by: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id"))
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime)
    approved_by: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("users.id"))
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    refund: Mapped[int | None] = mapped_column(BigInteger)
    points_forfeited: Mapped[int | None] = mapped_column(BigInteger)
    payout_id: Mapped[int | None] = mapped_column(BigInteger)


class DeskTopUp(Base):
    """Cash taken at a ward counter and credited to a wallet: what the receipt (領収書)
    prints."""

    __tablename__ = "desk_top_ups"
    __table_args__ = (CheckConstraint("amount > 0", name="amount_positive"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    # The transaction number on the receipt.
    reference: Mapped[str] = mapped_column(String(24), unique=True)
    resident_id: Mapped[int] = mapped_column(BigInteger)
    wallet_id: Mapped[str] = mapped_column(String(32))
    amount: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(String(200))
    staff_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id"))
    staff_name: Mapped[str] = mapped_column(String(40))
    office: Mapped[str] = mapped_column(String(40))
    entry_id: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class DeskCashUp(Base):
    """A counter's day-end cash-up (精算・現金照合): one member of desk staff declares the
    cash counted; a different one (or an officer) confirms it, and the confirmation records
    what the day's counter top-ups say should be there and the difference (過不足). The
    figures are also written to the append-only ``desk_audit`` (cash_declare, cash_confirm),
    which is the record that cannot be changed afterwards."""

    __tablename__ = "desk_cash_ups"
    __table_args__ = (
        CheckConstraint("status IN ('declared', 'confirmed')", name="status"),
        CheckConstraint("counted >= 0", name="counted_not_negative"),
        CheckConstraint(
            "(status = 'confirmed') = (confirmed_by IS NOT NULL AND expected IS NOT NULL)",
            name="confirmed_has_figures",
        ),
        # One cash-up per counter and day.
        Index("ux_desk_cash_ups_office_day", "office", "day", unique=True),
        Index("ix_desk_cash_ups_status", "status", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    office: Mapped[str] = mapped_column(String(40))  # the counter, as on its receipts
    day: Mapped[date] = mapped_column(Date)  # Tokyo
    status: Mapped[str] = mapped_column(String(10))
    counted: Mapped[int] = mapped_column(BigInteger)
    note: Mapped[str | None] = mapped_column(String(200))
    declared_by: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id"))
    declared_at: Mapped[datetime] = mapped_column(UTCDateTime)
    confirmed_by: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("users.id"))
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # At confirmation: the day's counter top-ups at this office, their count, and
    # counted − expected (positive: cash over, 過剰; negative: short, 不足).
    expected: Mapped[int | None] = mapped_column(BigInteger)
    top_ups: Mapped[int | None] = mapped_column(BigInteger)
    difference: Mapped[int | None] = mapped_column(BigInteger)
