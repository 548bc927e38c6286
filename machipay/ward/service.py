from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from machipay.ward.models import District


async def list_districts(session: AsyncSession) -> list[District]:
    return list((await session.execute(select(District).order_by(District.id))).scalars())


async def district_exists(session: AsyncSession, district_id: str) -> bool:
    return (
        await session.execute(select(District.id).where(District.id == district_id))
    ).first() is not None
