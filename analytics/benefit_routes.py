"""GET /api/v1/benefits/{id}/report: what a benefit did, by district, through disclosure
control. It keeps the benefits API's path but lives here, beside the campaign reports,
so that the rules for publishing figures about residents are applied in one place."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends

from analytics.benefit_guard import hold_reports_of, published_before, remember_published
from analytics.benefit_reports import disclose
from analytics.query import thresholds
from benefits import get_benefit
from machipay.auth import AccessClaims, Role, require_roles
from machipay.deps import AppSettings, DbSession
from machipay.schemas import Id
from machipay.timeutil import to_tokyo, utcnow
from wallet_api import benefit_lot_figures
from ward import list_districts

router = APIRouter(prefix="/api/v1/benefits", tags=["benefits"])

Viewer = Annotated[
    AccessClaims,
    Depends(require_roles(Role.OFFICER, Role.APPROVER, Role.OPERATOR, Role.ANALYST)),
]


@router.get("/{benefit_id}/report")
async def report(
    benefit_id: Id, _caller: Viewer, session: DbSession, settings: AppSettings
) -> dict[str, Any]:
    """Points granted, spent and expired by district (rounded; a district with fewer than
    k recipients, any figure that would give one away by subtraction, and any figure whose
    residents changed by 1 to k−1 since it was last published, is null)."""
    benefit = await get_benefit(session, benefit_id)
    names = {d.id: d.name for d in await list_districts(session)}
    await hold_reports_of(session, benefit.id)
    earlier = await published_before(session, benefit.id)
    now = utcnow()
    disclosed = disclose(
        await benefit_lot_figures(session, benefit_id), thresholds(settings), earlier
    )
    await remember_published(session, benefit.id, disclosed.published, earlier, now)
    published = disclosed.report
    for row in published["rows"]:
        row["name"] = names.get(row["district_id"])
    return {
        "benefit_id": benefit.id,
        "name": benefit.name,
        "status": benefit.status,
        "as_of": to_tokyo(now).isoformat(),
        **published,
    }
