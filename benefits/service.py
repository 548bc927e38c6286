"""Benefit definitions and their workflow: draft → submitted → approved → running → done.

Maker-checker as for campaigns: the approver must be someone other than whoever created,
edited (recipient uploads included) or submitted the benefit, and an edit after submission
sends it back to draft. Submission fixes the recipients and so the budget (points ×
recipients); approval funds it in one balanced entry (Dr ``bank:city`` / Cr
``benefit:{id}:budget``). Nothing here commits.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, bindparam, delete, func, select, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession

import ledger
from benefits.errors import BenefitNotFound, BenefitSelfApproval, BenefitStateConflict
from benefits.models import Benefit, BenefitAudit, BenefitRecipient
from benefits.schemas import BenefitIn, BenefitPatch, RecipientsIn
from ledger import credit, debit
from machipay.errors import ValidationFailed
from machipay.timeutil import as_utc, utcnow
from wallet_api import residents_by_wallet_ids, residents_matching
from ward import district_exists

EDITABLE = ("name", "purpose", "points_per_recipient", "points_expiry_days", "starts_at")

_ADD_RECIPIENTS = text(
    "INSERT INTO benefit_recipients (benefit_id, resident_id)"
    " SELECT :benefit, r FROM unnest(CAST(:residents AS bigint[])) AS r"
    " ON CONFLICT DO NOTHING"
).bindparams(bindparam("residents", type_=ARRAY(BigInteger())))


def audit(
    session: AsyncSession,
    benefit_id: int,
    *,
    actor_id: int | None,
    action: str,
    changes: dict[str, Any],
) -> None:
    session.add(
        BenefitAudit(
            benefit_id=benefit_id, actor_id=actor_id, action=action, changes=changes, at=utcnow()
        )
    )


def terms_of(benefit: Benefit) -> dict[str, Any]:
    return {
        "name": benefit.name,
        "purpose": benefit.purpose,
        "points_per_recipient": benefit.points_per_recipient,
        "points_expiry_days": benefit.points_expiry_days,
        "starts_at": as_utc(benefit.starts_at).isoformat(),
        "recipient_rule": benefit.recipient_rule,
    }


async def _check_districts(session: AsyncSession, recipients: RecipientsIn) -> None:
    for district_id in recipients.district_ids or []:
        if not await district_exists(session, district_id):
            raise ValidationFailed(f"recipients: no district {district_id!r}.")


async def add_recipients(session: AsyncSession, benefit_id: int, resident_ids: list[int]) -> None:
    """Residents the benefit goes to (one statement; a resident already listed stays once)."""
    if resident_ids:
        await session.execute(_ADD_RECIPIENTS, {"benefit": benefit_id, "residents": resident_ids})


async def _list_wallets(session: AsyncSession, benefit_id: int, wallet_ids: list[str]) -> None:
    found = await residents_by_wallet_ids(session, wallet_ids)
    unknown = [w for w in wallet_ids if w not in found]
    if unknown:
        raise ValidationFailed(
            "recipients: no wallet that can receive a benefit (unknown, unverified or closed): "
            + ", ".join(unknown[:10])
            + (f" and {len(unknown) - 10} more" if len(unknown) > 10 else "")
            + "."
        )
    await add_recipients(session, benefit_id, sorted(found[w] for w in wallet_ids))


async def create_benefit(session: AsyncSession, terms: BenefitIn, *, actor_id: int) -> Benefit:
    await _check_districts(session, terms.recipients)
    now = utcnow()
    benefit = Benefit(
        name=terms.name,
        purpose=terms.purpose,
        status="draft",
        points_per_recipient=terms.points_per_recipient,
        points_expiry_days=terms.points_expiry_days,
        starts_at=terms.starts_at,
        recipient_rule=terms.recipients.rule(),
        recipients=0,
        budget=0,
        granted=0,
        granted_through=0,
        created_by=actor_id,
        created_at=now,
    )
    session.add(benefit)
    await session.flush()
    if terms.recipients.wallet_ids is not None:
        await _list_wallets(session, benefit.id, terms.recipients.wallet_ids)
    audit(session, benefit.id, actor_id=actor_id, action="create", changes=terms_of(benefit))
    return benefit


async def get_benefit(session: AsyncSession, benefit_id: int, *, lock: bool = False) -> Benefit:
    query = select(Benefit).where(Benefit.id == benefit_id)
    if lock:
        query = query.with_for_update()
    benefit = (await session.execute(query)).scalar_one_or_none()
    if benefit is None:
        raise BenefitNotFound(f"No benefit {benefit_id}.")
    return benefit


async def listed_recipients(session: AsyncSession, benefit_id: int) -> int:
    return int(
        (
            await session.execute(
                select(func.count()).where(BenefitRecipient.benefit_id == benefit_id)
            )
        ).scalar_one()
    )


async def recipients_now(session: AsyncSession, benefit: Benefit) -> int:
    """Fixed once submitted; for a draft, how many its rule or list reaches today."""
    if benefit.status != "draft" or benefit.recipient_rule.get("list"):
        return (
            benefit.recipients
            if benefit.status != "draft"
            else await listed_recipients(session, benefit.id)
        )
    return len(await _ruled_residents(session, benefit))


async def _ruled_residents(session: AsyncSession, benefit: Benefit) -> list[int]:
    rule = benefit.recipient_rule
    return await residents_matching(
        session,
        district_ids=[] if rule.get("all") else list(rule.get("district_ids") or []),
        age_bands=[] if rule.get("all") else list(rule.get("age_bands") or []),
        at=utcnow(),
    )


def _back_to_draft(benefit: Benefit, changes: dict[str, Any]) -> None:
    # What an approver approves must be what was submitted: any edit needs a new submission.
    if benefit.status == "submitted":
        benefit.status, benefit.submitted_by, benefit.submitted_at = "draft", None, None
        benefit.recipients, benefit.budget = 0, 0
        changes["status"] = ["submitted", "draft"]


def _editable(benefit: Benefit) -> None:
    if benefit.status not in ("draft", "submitted"):
        raise BenefitStateConflict(
            f"Only a draft or a submitted benefit can be changed; this one is {benefit.status}."
        )


async def update_draft(
    session: AsyncSession, benefit_id: int, patch: BenefitPatch, *, actor_id: int
) -> Benefit:
    benefit = await get_benefit(session, benefit_id, lock=True)
    _editable(benefit)
    before = terms_of(benefit)
    given = patch.model_dump(exclude_unset=True, exclude={"recipients"})
    for name in EDITABLE:
        if given.get(name) is not None:
            setattr(benefit, name, given[name])
    if patch.recipients is not None:
        await _check_districts(session, patch.recipients)
        benefit.recipient_rule = patch.recipients.rule()
        await session.execute(
            delete(BenefitRecipient).where(BenefitRecipient.benefit_id == benefit.id)
        )
        if patch.recipients.wallet_ids is not None:
            await _list_wallets(session, benefit.id, patch.recipients.wallet_ids)
    after = terms_of(benefit)
    changes: dict[str, Any] = {k: [before[k], after[k]] for k in after if before[k] != after[k]}
    if patch.recipients is not None and patch.recipients.wallet_ids is not None:
        changes["recipient_list"] = len(patch.recipients.wallet_ids)
    if changes:
        _back_to_draft(benefit, changes)
        audit(session, benefit.id, actor_id=actor_id, action="update", changes=changes)
    await session.flush()
    return benefit


async def upload_recipients(
    session: AsyncSession, benefit_id: int, resident_ids: list[int], *, actor_id: int
) -> Benefit:
    """Add residents read from a CSV to a listed benefit: an edit like any other (the
    uploader cannot approve it; a submitted benefit goes back to draft)."""
    benefit = await get_benefit(session, benefit_id, lock=True)
    _editable(benefit)
    if not benefit.recipient_rule.get("list"):
        raise BenefitStateConflict(
            'Recipients are uploaded to a benefit created with {"wallet_ids": [...]};'
            " this one chooses them by a rule."
        )
    await add_recipients(session, benefit.id, sorted(set(resident_ids)))
    changes: dict[str, Any] = {"recipients_uploaded": len(resident_ids)}
    _back_to_draft(benefit, changes)
    audit(session, benefit.id, actor_id=actor_id, action="update", changes=changes)
    await session.flush()
    return benefit


async def submit(session: AsyncSession, benefit_id: int, *, actor_id: int) -> Benefit:
    """Fix the recipients (a rule becomes rows) and so the budget, for an approver."""
    benefit = await get_benefit(session, benefit_id, lock=True)
    if benefit.status != "draft":
        raise BenefitStateConflict(f"Only a draft can be submitted; this one is {benefit.status}.")
    if not benefit.recipient_rule.get("list"):
        await session.execute(
            delete(BenefitRecipient).where(BenefitRecipient.benefit_id == benefit.id)
        )
        await add_recipients(session, benefit.id, await _ruled_residents(session, benefit))
    count = await listed_recipients(session, benefit.id)
    if count == 0:
        raise BenefitStateConflict("The benefit reaches nobody: no recipient matches.")
    benefit.recipients = count
    benefit.budget = count * benefit.points_per_recipient
    benefit.status, benefit.submitted_by, benefit.submitted_at = "submitted", actor_id, utcnow()
    audit(
        session,
        benefit.id,
        actor_id=actor_id,
        action="submit",
        changes={"status": ["draft", "submitted"], "recipients": count, "budget": benefit.budget},
    )
    await session.flush()
    return benefit


async def reject(
    session: AsyncSession, benefit_id: int, *, actor_id: int, reason: str | None
) -> Benefit:
    benefit = await get_benefit(session, benefit_id, lock=True)
    if benefit.status != "submitted":
        raise BenefitStateConflict(
            f"Only a submitted benefit can be sent back; this one is {benefit.status}."
        )
    changes: dict[str, Any] = {"reason": reason}
    _back_to_draft(benefit, changes)
    audit(session, benefit.id, actor_id=actor_id, action="reject", changes=changes)
    await session.flush()
    return benefit


async def editors_of(session: AsyncSession, benefit_id: int) -> set[int]:
    rows = await session.execute(
        select(BenefitAudit.actor_id).where(
            BenefitAudit.benefit_id == benefit_id, BenefitAudit.action == "update"
        )
    )
    return {int(actor) for actor in rows.scalars() if actor is not None}


async def approve(session: AsyncSession, benefit_id: int, *, actor_id: int) -> Benefit:
    """Approve (maker-checker) and fund the budget from the ward's money (bank:city)."""
    benefit = await get_benefit(session, benefit_id, lock=True)
    if benefit.status != "submitted":
        raise BenefitStateConflict(
            f"Only a submitted benefit can be approved; this one is {benefit.status}."
        )
    if actor_id in (benefit.created_by, benefit.submitted_by) or actor_id in await editors_of(
        session, benefit.id
    ):
        raise BenefitSelfApproval(
            "A benefit is approved by someone other than who wrote, edited or submitted it."
        )
    budget_account = ledger.benefit_budget(benefit.id)
    await ledger.open_accounts(session, [budget_account, ledger.benefit_breakage(benefit.id)])
    funded = await ledger.post_entry(
        session,
        idempotency_key=f"benefit-funding:{benefit.id}",
        kind="benefit_funding",
        legs=[debit(ledger.BANK_CITY, benefit.budget), credit(budget_account, benefit.budget)],
        memo=f"budget of benefit {benefit.id} ({benefit.name})",
    )
    now = utcnow()
    benefit.status, benefit.approved_by, benefit.approved_at = "approved", actor_id, now
    benefit.funding_entry_id = funded.id
    audit(
        session,
        benefit.id,
        actor_id=actor_id,
        action="approve",
        changes={"status": ["submitted", "approved"], "funding_entry_id": funded.id},
    )
    await session.flush()
    return benefit


async def list_benefits(session: AsyncSession, *, limit: int) -> list[Benefit]:
    return list(
        (await session.execute(select(Benefit).order_by(Benefit.id.desc()).limit(limit))).scalars()
    )


async def audit_trail(session: AsyncSession, benefit_id: int) -> list[BenefitAudit]:
    await get_benefit(session, benefit_id)
    return list(
        (
            await session.execute(
                select(BenefitAudit)
                .where(BenefitAudit.benefit_id == benefit_id)
                .order_by(BenefitAudit.id)
            )
        ).scalars()
    )


def runs_from(benefit: Benefit) -> datetime:
    return as_utc(benefit.starts_at)
