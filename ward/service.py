from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from machipay.errors import Conflict, ValidationFailed
from machipay.timeutil import utcnow
from ward.data import ward_reference
from ward.models import District, MerchantCategory, ShoppingStreet, WardNotice


async def list_districts(session: AsyncSession) -> list[District]:
    return list((await session.execute(select(District).order_by(District.id))).scalars())


# Small kana read as their full-size letters in あいうえお order (JIS X 4061).
_SMALL_KANA = str.maketrans("ぁぃぅぇぉっゃゅょゎ", "あいうえおつやゆよわ")


def aiueo_key(reading: str) -> tuple[str, str]:
    """Dictionary (五十音) order: voiced and small kana sort with their plain letter first
    (か, が; よ, ょ), then the voiced one after. A code-point sort would put だいざわ
    after たいしどう."""
    plain = "".join(
        ch for ch in unicodedata.normalize("NFD", reading) if not unicodedata.combining(ch)
    )
    return plain.translate(_SMALL_KANA), reading


def district_reading(district_id: str) -> str | None:
    """The district's name in hiragana (ward.json ``kana``)."""
    for district in ward_reference()["districts"]:
        if district["code"] == district_id:
            reading: str | None = district.get("kana")
            return reading
    return None


async def districts_in_kana_order(session: AsyncSession) -> list[District]:
    """The districts as residents and staff choose from them: in あいうえお order of their
    reading (by code, the order of the ward's list, nobody could find their own). One with no
    reading in the reference file comes last."""
    districts = await list_districts(session)
    readings = {d.id: district_reading(d.id) for d in districts}
    return sorted(
        districts,
        key=lambda d: (readings[d.id] is None, aiueo_key(readings[d.id] or d.name)),
    )


async def district_exists(session: AsyncSession, district_id: str) -> bool:
    return (
        await session.execute(select(District.id).where(District.id == district_id))
    ).first() is not None


async def list_shopping_streets(session: AsyncSession) -> list[ShoppingStreet]:
    return list(
        (await session.execute(select(ShoppingStreet).order_by(ShoppingStreet.id))).scalars()
    )


async def get_shopping_street(session: AsyncSession, street_id: int) -> ShoppingStreet | None:
    return await session.get(ShoppingStreet, street_id)


async def create_shopping_street(
    session: AsyncSession, *, name: str, name_en: str, district_id: str
) -> ShoppingStreet:
    if not await district_exists(session, district_id):
        raise ValidationFailed(f"Unknown district {district_id!r}.", field="district_id")
    street = ShoppingStreet(name=name.strip(), name_en=name_en.strip(), district_id=district_id)
    session.add(street)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as exc:
        raise Conflict(f"A shopping street named {name!r} already exists.") from exc
    return street


async def list_categories(session: AsyncSession) -> list[MerchantCategory]:
    return list(
        (await session.execute(select(MerchantCategory).order_by(MerchantCategory.code))).scalars()
    )


async def get_category(session: AsyncSession, code: str) -> MerchantCategory | None:
    return await session.get(MerchantCategory, code)


async def publish_notice(
    session: AsyncSession, *, title: str, body: str, district_id: str | None, author_id: int
) -> WardNotice:
    if district_id is not None and not await district_exists(session, district_id):
        raise ValidationFailed(f"Unknown district {district_id!r}.", field="district_id")
    notice = WardNotice(
        title=title.strip(),
        body=body.strip(),
        district_id=district_id,
        published_at=utcnow(),
        created_by=author_id,
    )
    session.add(notice)
    await session.flush()
    return notice


async def list_notices(
    session: AsyncSession, *, for_district: str | None = None, limit: int = 50
) -> list[WardNotice]:
    """Newest first. With ``for_district``: what a resident living there sees, that is the
    ward-wide notices and their district's."""
    query = select(WardNotice).order_by(WardNotice.published_at.desc(), WardNotice.id.desc())
    if for_district is not None:
        query = query.where(
            or_(WardNotice.district_id.is_(None), WardNotice.district_id == for_district)
        )
    return list((await session.execute(query.limit(limit))).scalars())


@dataclass(frozen=True, slots=True)
class WardCounter:
    """A ward desk where residents can top up in cash: their area's 総合支所 (or, where it
    takes cash, the district's まちづくりセンター), at its published address."""

    district_id: str
    district_name: str
    name: str
    name_en: str
    address: str
    hours: str
    hours_en: str


def ward_counter(district_id: str) -> WardCounter | None:
    """The counter of a district, from the ward's reference file (None: no such district)."""
    reference = ward_reference()
    hours = reference["ward"].get("counter_hours", {})
    for district in reference["districts"]:
        if district["code"] == district_id and "counter" in district:
            counter = district["counter"]
            return WardCounter(
                district_id=district_id,
                district_name=district["name"],
                name=counter["name"],
                name_en=counter["name_en"],
                address=counter["address"],
                hours=hours.get("ja", ""),
                hours_en=hours.get("en", ""),
            )
    return None
