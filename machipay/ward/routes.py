from __future__ import annotations

from fastapi import APIRouter

from machipay.deps import DbSession
from machipay.schemas import StrictModel
from machipay.ward import service

router = APIRouter(prefix="/api/v1", tags=["reference data"])


class DistrictOut(StrictModel):
    id: str
    name: str
    name_en: str


@router.get("/districts", response_model=list[DistrictOut])
async def districts(session: DbSession) -> list[DistrictOut]:
    """The ward's districts (町丁) residents choose from at registration."""
    return [
        DistrictOut(id=d.id, name=d.name, name_en=d.name_en)
        for d in await service.list_districts(session)
    ]
