"""Reference data over HTTP: districts, shopping streets, categories, ward notices."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from machipay.auth import AccessClaims, Role, require_roles
from machipay.deps import DbSession
from ward import service
from ward.schemas import (
    CategoryOut,
    DistrictOut,
    NoticeIn,
    NoticeOut,
    ShoppingStreetIn,
    ShoppingStreetOut,
    notice_out,
)

router = APIRouter(prefix="/api/v1", tags=["reference data"])


@router.get("/districts", response_model=list[DistrictOut])
async def districts(session: DbSession) -> list[DistrictOut]:
    """The ward's districts (町丁) residents choose from at registration, in あいうえお
    order of their reading."""
    return [
        DistrictOut(id=d.id, name=d.name, name_en=d.name_en)
        for d in await service.districts_in_kana_order(session)
    ]


@router.get("/shopping-streets", response_model=list[ShoppingStreetOut])
async def shopping_streets(session: DbSession) -> list[ShoppingStreetOut]:
    """The ward's shopping streets (商店街)."""
    return [
        ShoppingStreetOut(id=s.id, name=s.name, name_en=s.name_en, district_id=s.district_id)
        for s in await service.list_shopping_streets(session)
    ]


@router.post("/shopping-streets", status_code=201, response_model=ShoppingStreetOut)
async def create_shopping_street(
    body: ShoppingStreetIn,
    caller: Annotated[AccessClaims, Depends(require_roles(Role.OFFICER, Role.OPERATOR))],
    session: DbSession,
) -> ShoppingStreetOut:
    street = await service.create_shopping_street(
        session, name=body.name, name_en=body.name_en, district_id=body.district_id
    )
    return ShoppingStreetOut(
        id=street.id, name=street.name, name_en=street.name_en, district_id=street.district_id
    )


@router.get("/merchant-categories", response_model=list[CategoryOut])
async def merchant_categories(session: DbSession) -> list[CategoryOut]:
    """Shop categories with their MCC (ISO 18245)."""
    return [
        CategoryOut(code=c.code, name=c.name, name_en=c.name_en, mcc=c.mcc)
        for c in await service.list_categories(session)
    ]


@router.post("/notices", status_code=201, response_model=NoticeOut)
async def publish_notice(
    body: NoticeIn,
    caller: Annotated[AccessClaims, Depends(require_roles(Role.OFFICER))],
    session: DbSession,
) -> NoticeOut:
    """Publish a ward notice (お知らせ) to every resident or to one district's."""
    notice = await service.publish_notice(
        session,
        title=body.title,
        body=body.body,
        district_id=body.district_id,
        author_id=caller.user_id,
    )
    return notice_out(notice)


@router.get("/notices", response_model=list[NoticeOut])
async def notices(
    caller: Annotated[
        AccessClaims, Depends(require_roles(Role.OFFICER, Role.APPROVER, Role.OPERATOR))
    ],
    session: DbSession,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> list[NoticeOut]:
    """Every published notice, newest first (residents read theirs at /wallet/notices)."""
    return [notice_out(n) for n in await service.list_notices(session, limit=limit)]
