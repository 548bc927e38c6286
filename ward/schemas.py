from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import Field

from machipay.schemas import ShownText, StrictModel
from machipay.timeutil import to_tokyo
from ward.models import WardNotice


class DistrictOut(StrictModel):
    id: str
    name: str
    name_en: str


class ShoppingStreetIn(StrictModel):
    name: Annotated[str, ShownText(64)]
    name_en: Annotated[str, ShownText(64)]
    district_id: str = Field(min_length=1, max_length=32)


class ShoppingStreetOut(StrictModel):
    id: int
    name: str
    name_en: str
    district_id: str


class CategoryOut(StrictModel):
    code: str
    name: str
    name_en: str
    mcc: str


class NoticeIn(StrictModel):
    title: Annotated[str, ShownText(80)]
    body: str = Field(min_length=1, max_length=2000)
    district_id: str | None = Field(
        default=None, max_length=32, description="None: every resident of the ward."
    )


class NoticeOut(StrictModel):
    id: int
    title: str
    body: str
    district_id: str | None
    published_at: datetime


def notice_out(notice: WardNotice) -> NoticeOut:
    return NoticeOut(
        id=notice.id,
        title=notice.title,
        body=notice.body,
        district_id=notice.district_id,
        published_at=to_tokyo(notice.published_at),
    )
