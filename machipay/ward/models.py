"""The ward's reference data: districts (町丁), shopping streets (商店街), shop categories."""

from __future__ import annotations

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from machipay.db import Base, BigId


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
