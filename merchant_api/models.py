"""Merchants (加盟店)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, Numeric, String
from sqlalchemy.orm import Mapped, mapped_column

from machipay.db import Base, BigId, UTCDateTime


class Merchant(Base):
    __tablename__ = "merchants"
    __table_args__ = (
        # Both or neither, inside Japan's bounding box: a pin in the sea is a typo.
        CheckConstraint(
            "(latitude IS NULL) = (longitude IS NULL) AND (latitude IS NULL OR "
            "(latitude BETWEEN 20 AND 46 AND longitude BETWEEN 122 AND 154))",
            name="location",
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    # What the QR token carries: random, so a sticker never reveals or guesses a database id.
    public_id: Mapped[str] = mapped_column(String(12), unique=True)
    name: Mapped[str] = mapped_column(String(60))
    name_kana: Mapped[str] = mapped_column(String(80))
    name_latin: Mapped[str] = mapped_column(String(25))
    category_code: Mapped[str] = mapped_column(
        String(32), ForeignKey("ward_merchant_categories.code")
    )
    store_type: Mapped[str] = mapped_column(String(8))
    shopping_street_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("ward_shopping_streets.id")
    )
    postal_code: Mapped[str] = mapped_column(String(7))
    address: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(12))  # pending, active, suspended, rejected
    bank_code: Mapped[str] = mapped_column(String(4))
    branch_code: Mapped[str] = mapped_column(String(3))
    account_type: Mapped[str] = mapped_column(String(8))
    account_number: Mapped[str] = mapped_column(String(7))
    account_name_kana: Mapped[str] = mapped_column(String(60))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Two people open a shop (DESIGN.md 7): the first approval is recorded here, the shop
    # stays pending until a different member of staff gives the second.
    first_approved_by: Mapped[int | None] = mapped_column(BigInteger)
    first_approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    approved_by: Mapped[int | None] = mapped_column(BigInteger)
    # daily | weekly | monthly; None: the platform's MACHIPAY_SETTLEMENT_SCHEDULE.
    settlement_schedule: Mapped[str | None] = mapped_column(String(8))
    # Where the shop is (pinned on the application's map; both or neither) and what residents
    # read in the directory.
    latitude: Mapped[Decimal | None] = mapped_column(Numeric(9, 6))
    longitude: Mapped[Decimal | None] = mapped_column(Numeric(9, 6))
    opening_hours: Mapped[str | None] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(String(20))
    consented_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # An officer's refusal, shown to the applicant on the status page.
    rejection_reason: Mapped[str | None] = mapped_column(String(500))
    rejected_by: Mapped[int | None] = mapped_column(BigInteger)
    rejected_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The latest suspension: why, by whom, when. The shop reads the reason while suspended;
    # it stays on the row after reinstatement as the record of what happened.
    suspension_reason: Mapped[str | None] = mapped_column(String(500))
    suspended_by: Mapped[int | None] = mapped_column(BigInteger)
    suspended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The ward's reference of a shop it imported from its recruitment list (受付番号): the
    # import's key, so the same file imported twice creates no second shop.
    import_ref: Mapped[str | None] = mapped_column(String(32), unique=True)
    imported_by: Mapped[int | None] = mapped_column(BigInteger)


class StaffMember(Base):
    """A shop's staff login as its owner manages it: who added it, its own refund limit,
    and when it was removed. The login itself (name, password, role) is identity's user;
    staff created by the CLI have no row here and take the platform's default limit."""

    __tablename__ = "merchant_staff"
    __table_args__ = (
        Index("ix_merchant_staff_merchant", "merchant_id"),
        CheckConstraint(
            "refund_limit IS NULL OR refund_limit >= 0", name="refund_limit_not_negative"
        ),
    )

    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id"), primary_key=True)
    merchant_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("merchants.id"))
    # None: MACHIPAY_MERCHANT_STAFF_REFUND_LIMIT, so a change of the default reaches them.
    refund_limit: Mapped[int | None] = mapped_column(BigInteger)
    added_by: Mapped[int | None] = mapped_column(BigInteger)
    added_at: Mapped[datetime] = mapped_column(UTCDateTime)
    removed_by: Mapped[int | None] = mapped_column(BigInteger)
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
