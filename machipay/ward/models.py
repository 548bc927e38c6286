"""The ward's reference data: districts (町丁) residents live in."""

from __future__ import annotations

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from machipay.db import Base


class District(Base):
    __tablename__ = "ward_districts"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # a stable code, e.g. "kitazawa"
    name: Mapped[str] = mapped_column(String(64))
    name_en: Mapped[str] = mapped_column(String(64))
    area: Mapped[str] = mapped_column(String(64))
