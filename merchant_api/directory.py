"""The public shop directory (お店をさがす): active shops by name, category, shopping street
and district, a page at a time.

Merchants own what the directory shows (name, address, hours, the pin set at application),
so it is read here; which shops a campaign rewards is campaigns' rule, handed in as
:class:`ShopCriteria` so the filter runs in the database and paging stays exact.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import ColumnElement, and_, false, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from machipay.text import nfkc
from merchant_api.models import Merchant
from ward import District, MerchantCategory, ShoppingStreet

MAX_QUERY_LENGTH = 50
_HIDDEN = {"Cc", "Cf", "Cs", "Co", "Cn"}
MAX_PAGE_SIZE = 50


@dataclass(frozen=True, slots=True)
class ShopCriteria:
    """Shops a rule covers: each non-empty set narrows, an empty one means "all";
    ``in_shopping_street`` None: whether or not the shop belongs to a 商店街."""

    shopping_street_ids: frozenset[int] = frozenset()
    categories: frozenset[str] = frozenset()
    store_types: frozenset[str] = frozenset()
    district_ids: frozenset[str] = frozenset()
    in_shopping_street: bool | None = None


@dataclass(frozen=True, slots=True)
class DirectoryQuery:
    text: str | None = None
    category: str | None = None
    shopping_street_id: int | None = None
    district_id: str | None = None
    # None: any shop; otherwise only shops at least one of these criteria covers (an empty
    # sequence: no shop, e.g. "campaign now" while nothing runs).
    covered_by: Sequence[ShopCriteria] | None = None
    after_id: int | None = None
    limit: int = 20


@dataclass(frozen=True, slots=True)
class DirectoryShop:
    id: int
    name: str
    name_kana: str
    category: str
    category_name: str
    store_type: str
    shopping_street_id: int | None
    shopping_street: str | None
    district_id: str | None
    district: str | None
    address: str
    latitude: float | None
    longitude: float | None
    opening_hours: str | None
    phone: str | None


@dataclass(frozen=True, slots=True)
class DirectoryPage:
    shops: list[DirectoryShop]
    next_after_id: int | None


def search_text(raw: str) -> str:
    """What a search box's text is compared as: NFKC (full-width Latin and digits, half-width
    kana become one form), whitespace collapsed, and without the invisible characters no
    name contains (controls, NUL included, which PostgreSQL refuses in text)."""
    visible = "".join(c for c in nfkc(raw) if unicodedata.category(c) not in _HIDDEN)
    return " ".join(visible.split())


def _katakana(text: str) -> str:
    # Residents type a shop's reading in hiragana as often as in katakana.
    return "".join(chr(ord(c) + 0x60) if "\u3041" <= c <= "\u3096" else c for c in text)


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _covered(criteria: ShopCriteria) -> ColumnElement[bool]:
    conditions: list[ColumnElement[bool]] = []
    if criteria.shopping_street_ids:
        conditions.append(Merchant.shopping_street_id.in_(sorted(criteria.shopping_street_ids)))
    if criteria.categories:
        conditions.append(Merchant.category_code.in_(sorted(criteria.categories)))
    if criteria.store_types:
        conditions.append(Merchant.store_type.in_(sorted(criteria.store_types)))
    if criteria.district_ids:
        conditions.append(ShoppingStreet.district_id.in_(sorted(criteria.district_ids)))
    if criteria.in_shopping_street is not None:
        conditions.append(
            Merchant.shopping_street_id.is_not(None)
            if criteria.in_shopping_street
            else Merchant.shopping_street_id.is_(None)
        )
    return and_(*conditions) if conditions else Merchant.id.is_not(None)


async def search_shops(session: AsyncSession, query: DirectoryQuery) -> DirectoryPage:
    """Active shops matching every given filter, in id order, ``limit`` at a time."""
    limit = max(1, min(query.limit, MAX_PAGE_SIZE))
    statement = (
        select(
            Merchant,
            MerchantCategory.name,
            ShoppingStreet.name,
            ShoppingStreet.district_id,
            District.name,
        )
        .join(MerchantCategory, MerchantCategory.code == Merchant.category_code)
        .outerjoin(ShoppingStreet, ShoppingStreet.id == Merchant.shopping_street_id)
        .outerjoin(District, District.id == ShoppingStreet.district_id)
        .where(Merchant.status == "active")
        .order_by(Merchant.id)
        .limit(limit + 1)
    )
    if query.text:
        text = search_text(query.text)[:MAX_QUERY_LENGTH]
        if text:
            kana = _katakana(text).replace(" ", "")
            statement = statement.where(
                or_(
                    Merchant.name.ilike(_like(text), escape="\\"),
                    func.replace(Merchant.name_kana, " ", "").ilike(_like(kana), escape="\\"),
                    Merchant.address.ilike(_like(text), escape="\\"),
                )
            )
    if query.category:
        statement = statement.where(Merchant.category_code == query.category)
    if query.shopping_street_id is not None:
        statement = statement.where(Merchant.shopping_street_id == query.shopping_street_id)
    if query.district_id:
        statement = statement.where(ShoppingStreet.district_id == query.district_id)
    if query.covered_by is not None:
        statement = statement.where(
            or_(*(_covered(c) for c in query.covered_by)) if query.covered_by else false()
        )
    if query.after_id is not None:
        statement = statement.where(Merchant.id > query.after_id)
    rows = (await session.execute(statement)).all()
    shops = [
        _shop(merchant, category_name, street, district_id, district)
        for merchant, category_name, street, district_id, district in rows[:limit]
    ]
    return DirectoryPage(shops, shops[-1].id if len(rows) > limit else None)


def _degrees(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


def _shop(
    merchant: Merchant,
    category_name: str,
    street: str | None,
    district_id: str | None,
    district: str | None,
) -> DirectoryShop:
    return DirectoryShop(
        id=merchant.id,
        name=merchant.name,
        name_kana=merchant.name_kana,
        category=merchant.category_code,
        category_name=category_name,
        store_type=merchant.store_type,
        shopping_street_id=merchant.shopping_street_id,
        shopping_street=street,
        district_id=district_id,
        district=district,
        address=merchant.address,
        latitude=_degrees(merchant.latitude),
        longitude=_degrees(merchant.longitude),
        opening_hours=merchant.opening_hours,
        phone=merchant.phone,
    )
