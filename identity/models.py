"""Users of every role, and their refresh tokens."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from machipay.db import Base, BigId, UTCDateTime


class User(Base):
    """One table for every role; a resident's username is their phone number in E.164."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(12), default="active")
    merchant_id: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Where a password-reset code goes, for accounts whose username is not their phone
    # (shop owners give one when they apply); a resident's username is their phone.
    phone: Mapped[str | None] = mapped_column(String(16))


class RefreshToken(Base):
    """A refresh token is stored only as a hash; rotation chains tokens into a family."""

    __tablename__ = "auth_refresh_tokens"
    __table_args__ = (Index("ix_auth_refresh_tokens_family", "family_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    family_id: Mapped[str] = mapped_column(String(32))
    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id"))
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class PhoneCode(Base):
    """A six-digit code sent by SMS (phone verification, password reset). Only its keyed
    hash is stored: someone who reads the table cannot use a live code."""

    __tablename__ = "phone_codes"
    __table_args__ = (Index("ix_phone_codes_user_purpose", "user_id", "purpose", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id"))
    purpose: Mapped[str] = mapped_column(String(12))  # verify | reset
    code_hash: Mapped[str] = mapped_column(String(64))
    attempts: Mapped[int] = mapped_column(SmallInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Set when the code is used, replaced by a newer one, or burnt by wrong tries.
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
