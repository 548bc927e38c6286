"""Benefit admin API for the ward's officers and approvers (API.md "Benefits"); operators
read. The report is analytics' (analytics/benefit_routes.py): it publishes figures about
residents under the disclosure rules."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from benefits import recipients_csv, service
from benefits.models import Benefit
from benefits.schemas import (
    AuditOut,
    BenefitIn,
    BenefitOut,
    BenefitPage,
    BenefitPatch,
    Decision,
    RecipientsUploaded,
    RowError,
)
from machipay.auth import AccessClaims, Role, require_roles
from machipay.deps import DbSession
from machipay.errors import ValidationFailed
from machipay.schemas import Id
from machipay.timeutil import to_tokyo

router = APIRouter(prefix="/api/v1/benefits", tags=["benefits"])

Author = Annotated[AccessClaims, Depends(require_roles(Role.OFFICER, Role.APPROVER))]
Approver = Annotated[AccessClaims, Depends(require_roles(Role.APPROVER))]
Reader = Annotated[AccessClaims, Depends(require_roles(Role.OFFICER, Role.APPROVER, Role.OPERATOR))]


async def _view(session: DbSession, benefit: Benefit) -> BenefitOut:
    recipients = await service.recipients_now(session, benefit)
    if benefit.funding_entry_id is not None:
        # What the ledger holds (``machipay verify`` proves the two agree), without summing
        # a running benefit's postings on every poll of the console.
        budget = benefit.budget
        remaining = budget - benefit.granted * benefit.points_per_recipient
    else:
        budget = benefit.budget or recipients * benefit.points_per_recipient
        remaining = budget
    return BenefitOut(
        id=benefit.id,
        name=benefit.name,
        purpose=benefit.purpose,
        status=benefit.status,
        points_per_recipient=benefit.points_per_recipient,
        points_expiry_days=benefit.points_expiry_days,
        starts_at=to_tokyo(benefit.starts_at),
        recipient_rule=benefit.recipient_rule,
        recipients=recipients,
        granted=benefit.granted,
        budget=budget,
        budget_remaining=remaining,
        created_by=benefit.created_by,
        created_at=to_tokyo(benefit.created_at),
        submitted_by=benefit.submitted_by,
        submitted_at=to_tokyo(benefit.submitted_at) if benefit.submitted_at else None,
        approved_by=benefit.approved_by,
        approved_at=to_tokyo(benefit.approved_at) if benefit.approved_at else None,
        started_at=to_tokyo(benefit.started_at) if benefit.started_at else None,
        done_at=to_tokyo(benefit.done_at) if benefit.done_at else None,
    )


@router.post("", status_code=201, response_model=BenefitOut)
async def create(body: BenefitIn, caller: Author, session: DbSession) -> BenefitOut:
    """Draft a benefit: points per recipient, their expiry, when it runs, and to whom."""
    benefit = await service.create_benefit(session, body, actor_id=caller.user_id)
    return await _view(session, benefit)


@router.get("", response_model=BenefitPage)
async def list_(
    _caller: Reader, session: DbSession, limit: Annotated[int, Query(ge=1, le=100)] = 50
) -> BenefitPage:
    """Benefits, newest first."""
    return BenefitPage(
        items=[await _view(session, b) for b in await service.list_benefits(session, limit=limit)]
    )


@router.get("/{benefit_id}", response_model=BenefitOut)
async def get(benefit_id: Id, _caller: Reader, session: DbSession) -> BenefitOut:
    """Status, recipients, how many have their points (``granted``), the budget."""
    return await _view(session, await service.get_benefit(session, benefit_id))


@router.patch("/{benefit_id}", response_model=BenefitOut)
async def update(
    benefit_id: Id, body: BenefitPatch, caller: Author, session: DbSession
) -> BenefitOut:
    """Change a draft or a submitted benefit; a submitted one goes back to draft."""
    benefit = await service.update_draft(session, benefit_id, body, actor_id=caller.user_id)
    return await _view(session, benefit)


@router.post(
    "/{benefit_id}/recipients",
    response_model=RecipientsUploaded,
    openapi_extra={
        "requestBody": {"content": {"text/csv": {"schema": {"type": "string"}}}, "required": True}
    },
)
async def upload_recipients(
    benefit_id: Id, caller: Author, session: DbSession, request: Request
) -> RecipientsUploaded:
    """Recipients as CSV with a ``wallet_id`` or ``phone`` column (UTF-8 or Shift_JIS, at
    most 8 MB and 200,000 rows). Good rows are added; each bad row is listed with why."""
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media not in ("text/csv", "text/plain"):
        raise ValidationFailed("Send the list as text/csv.")
    raw = await request.body()
    parsed = recipients_csv.parse(recipients_csv.decode(raw))
    await service.get_benefit(session, benefit_id)
    residents, errors = await recipients_csv.resolve(session, parsed)
    await service.upload_recipients(session, benefit_id, residents, actor_id=caller.user_id)
    return RecipientsUploaded(
        accepted=len(residents),
        errors=[
            RowError(row=problem.line, code=problem.code, message=problem.message)
            for problem in errors[: recipients_csv.MAX_ERRORS_SHOWN]
        ],
    )


@router.post("/{benefit_id}/submit", response_model=BenefitOut)
async def submit(benefit_id: Id, caller: Author, session: DbSession) -> BenefitOut:
    """Fix the recipients and the budget for a second person's approval."""
    return await _view(session, await service.submit(session, benefit_id, actor_id=caller.user_id))


@router.post("/{benefit_id}/approve", response_model=BenefitOut)
async def approve(benefit_id: Id, caller: Approver, session: DbSession) -> BenefitOut:
    """Approve (a second person: its author, an editor or the submitter gets 403) and fund
    the budget from ``bank:city``. It runs from ``starts_at``."""
    return await _view(session, await service.approve(session, benefit_id, actor_id=caller.user_id))


@router.post("/{benefit_id}/reject", response_model=BenefitOut)
async def reject(
    benefit_id: Id, caller: Approver, session: DbSession, body: Decision | None = None
) -> BenefitOut:
    """Send a submitted benefit back to draft, with a reason."""
    benefit = await service.reject(
        session, benefit_id, actor_id=caller.user_id, reason=body.reason if body else None
    )
    return await _view(session, benefit)


@router.get("/{benefit_id}/audit", response_model=list[AuditOut])
async def audit_trail(benefit_id: Id, _caller: Reader, session: DbSession) -> list[AuditOut]:
    return [
        AuditOut(
            id=a.id, actor_id=a.actor_id, action=a.action, changes=a.changes, at=to_tokyo(a.at)
        )
        for a in await service.audit_trail(session, benefit_id)
    ]
