"""Public, no account needed (API.md "Finding shops"): the shop directory with its
"campaign now" badges, and the campaigns running now (with a resident's token, how much of
their cap is left). Included before the campaign admin routes: ``/campaigns/current`` is
not a campaign id."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from campaigns.directory import caps_left_for, find_shops, running_campaigns
from campaigns.engine import CampaignEngine
from campaigns.rules import CampaignRules, Offer
from campaigns.schemas import (
    CampaignWhereOut,
    CurrentCampaignOut,
    CurrentCampaignsOut,
    CurrentTierOut,
    DirectoryPageOut,
    DirectoryShopOut,
    LocationOut,
    NamedOut,
    ShopCampaignOut,
)
from machipay.auth import MaybeCaller, Role
from machipay.deps import DbSession
from machipay.schemas import Id
from machipay.timeutil import to_tokyo, utcnow
from merchant_api import MAX_PAGE_SIZE, MAX_QUERY_LENGTH, DirectoryQuery
from ward import list_categories, list_districts, list_shopping_streets

router = APIRouter(prefix="/api/v1", tags=["finding shops"])

# Public lists change when a shop opens or a campaign starts: a minute old is fine, and
# it spares the database a ward's worth of residents browsing at once.
PUBLIC_CACHE = "public, max-age=60"


def _engine(request: Request) -> CampaignEngine:
    engine = request.app.state.campaign_rewards
    assert isinstance(engine, CampaignEngine)
    return engine


def _badge(offer: Offer | None) -> ShopCampaignOut | None:
    if offer is None:
        return None
    return ShopCampaignOut(
        resident_rate_bp=offer.rate_bp,
        id=offer.rules.id,
        name=offer.rules.name,
        ends_at=to_tokyo(offer.rules.ends_at),
        min_payment=offer.rules.min_payment,
    )


@router.get("/shops", response_model=DirectoryPageOut)
async def shops(
    request: Request,
    response: Response,
    session: DbSession,
    q: Annotated[
        str | None,
        Query(
            max_length=MAX_QUERY_LENGTH,
            description="Part of the name (kana reading in hiragana or katakana) or address",
        ),
    ] = None,
    category: Annotated[str | None, Query(max_length=32, pattern=r"^[a-z0-9_]+$")] = None,
    street: Id | None = None,
    district: Annotated[str | None, Query(max_length=32, pattern=r"^[a-z0-9_-]+$")] = None,
    campaign: Annotated[
        str | None,
        Query(
            pattern=r"^(now|[1-9][0-9]{0,17})$",
            description="now: shops where a campaign gives points now; an id: that campaign's",
        ),
    ] = None,
    cursor: Annotated[str | None, Query(pattern=r"^[1-9][0-9]{0,17}$")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 20,
) -> DirectoryPageOut:
    """Active shops by name, category, shopping street and district, in a stable order,
    ``limit`` at a time (``cursor``: the previous page's ``next_cursor``)."""
    now = utcnow()
    found, next_after = await find_shops(
        session,
        _engine(request),
        DirectoryQuery(
            text=q,
            category=category,
            shopping_street_id=street,
            district_id=district,
            after_id=int(cursor) if cursor else None,
            limit=limit,
        ),
        campaign=True if campaign == "now" else int(campaign) if campaign else False,
        now=now,
    )
    response.headers["Cache-Control"] = PUBLIC_CACHE
    return DirectoryPageOut(
        items=[
            DirectoryShopOut(
                id=item.shop.id,
                name=item.shop.name,
                name_kana=item.shop.name_kana,
                category=item.shop.category,
                category_name=item.shop.category_name,
                store_type=item.shop.store_type,
                shopping_street=item.shop.shopping_street,
                shopping_street_id=item.shop.shopping_street_id,
                district=item.shop.district,
                district_id=item.shop.district_id,
                address=item.shop.address,
                location=LocationOut(lat=item.shop.latitude, lon=item.shop.longitude)
                if item.shop.latitude is not None and item.shop.longitude is not None
                else None,
                opening_hours=item.shop.opening_hours,
                phone=item.shop.phone,
                campaign=_badge(item.offer),
            )
            for item in found
        ],
        next_cursor=str(next_after) if next_after is not None else None,
    )


@router.get(
    "/campaigns/current", response_model=CurrentCampaignsOut, response_model_exclude_unset=True
)
async def current_campaigns(
    request: Request, response: Response, session: DbSession, caller: MaybeCaller
) -> CurrentCampaignsOut:
    """Campaigns giving points now: what, where, until when (soonest to end first). With a
    resident's token each also says ``cap_left``: the points they may still earn from it."""
    now = utcnow()
    running = await running_campaigns(session, _engine(request), now)
    streets = {str(s.id): s.name for s in await list_shopping_streets(session)}
    categories = {c.code: c.name for c in await list_categories(session)}
    districts = {d.id: d.name for d in await list_districts(session)}
    items = [_current(rules, streets, categories, districts) for rules in running]
    if caller is not None and caller.role == Role.RESIDENT.value:
        left = await caps_left_for(session, running, caller.user_id, now)
        items = [item.model_copy(update={"cap_left": left[item.id]}) for item in items]
        response.headers["Cache-Control"] = "private, no-store"
    else:
        response.headers["Cache-Control"] = PUBLIC_CACHE
    # A cache must not hand the anonymous answer to a resident (it has no cap_left).
    response.headers["Vary"] = "Authorization"
    return CurrentCampaignsOut(items=items)


def _current(
    rules: CampaignRules,
    streets: dict[str, str],
    categories: dict[str, str],
    districts: dict[str, str],
) -> CurrentCampaignOut:
    def named(ids: frozenset[int] | frozenset[str], names: dict[str, str]) -> list[NamedOut]:
        return [NamedOut(id=str(i), name=names.get(str(i), str(i))) for i in sorted(ids)]

    return CurrentCampaignOut(
        id=rules.id,
        name=rules.name,
        starts_at=to_tokyo(rules.starts_at),
        ends_at=to_tokyo(rules.ends_at),
        resident_rate_bp=rules.resident_rate_bp,
        max_resident_rate_bp=max(
            [rules.resident_rate_bp, *(t.resident_rate_bp for t in rules.tiers)]
        ),
        tiers=[
            CurrentTierOut(
                store_type=t.store_type,
                in_shopping_street=t.in_shopping_street,
                resident_rate_bp=t.resident_rate_bp,
            )
            for t in rules.tiers
        ],
        min_payment=rules.min_payment,
        per_payment_cap=rules.per_payment_cap,
        per_resident_monthly_cap=rules.per_resident_monthly_cap,
        per_resident_cap=rules.per_resident_cap,
        grant="deferred" if rules.deferred else "immediate",
        where=CampaignWhereOut(
            shopping_streets=named(rules.shopping_street_ids, streets),
            categories=named(rules.categories, categories),
            store_types=sorted(rules.store_types),
            districts=named(rules.district_ids, districts),
        ),
    )
