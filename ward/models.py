"""The ward's reference data: districts (町丁), shopping streets (商店街), shop categories."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from machipay.db import Base, BigId, UTCDateTime


class District(Base):
    __tablename__ = "ward_districts"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # a stable code, e.g. "kitazawa"
    name: Mapped[str] = mapped_column(String(64))
    name_en: Mapped[str] = mapped_column(String(64))
    area: Mapped[str] = mapped_column(String(64))


class ShoppingStreet(Base):
    """A 商店街 (shopping street association); a shop may belong to none."""

    __tablename__ = "ward_shopping_streets"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    name_en: Mapped[str] = mapped_column(String(64))
    district_id: Mapped[str] = mapped_column(String(32), ForeignKey("ward_districts.id"))


class MerchantCategory(Base):
    __tablename__ = "ward_merchant_categories"

    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    name_en: Mapped[str] = mapped_column(String(64))
    mcc: Mapped[str] = mapped_column(String(4))


class WardNotice(Base):
    """A notice from the ward to residents (お知らせ): the whole ward, or one district."""

    __tablename__ = "ward_notices"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    title: Mapped[str] = mapped_column(String(80))
    body: Mapped[str] = mapped_column(String(2000))
    # None: every resident of the ward sees it.
    district_id: Mapped[str | None] = mapped_column(
        String(32), ForeignKey("ward_districts.id"), index=True
    )
    published_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    created_by: Mapped[int] = mapped_column(BigInteger)
