"""The bank's payout result, imported by one operator and confirmed by another.

Marking payouts paid or failed moves money (Dr payout / Cr bank:settlement, or back to
the shop's payable), so it is a power over money and takes two people (DESIGN.md 7): the
import only records the parsed answers and shows what they would do; the ledger entries
are posted when a different operator confirms, from exactly the answers imported.
Nothing here commits.
"""

from __future__ import annotations

import hashlib

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from machipay.errors import Conflict, Forbidden, NotFound
from machipay.timeutil import utcnow
from settlement.models import PayoutResultImport
from settlement.payouts import (
    PayoutOutcome,
    ResultSummary,
    apply_payout_results,
    parse_result_csv,
    preview_payout_results,
)


class PayoutImportNotFound(NotFound):
    type_slug = "payout-import-not-found"
    title = "Unknown payout result import"


class PayoutImportAlreadyConfirmed(Conflict):
    type_slug = "payout-import-already-confirmed"
    title = "This payout result import was already confirmed"


class PayoutImportSelfConfirmation(Forbidden):
    type_slug = "payout-import-self-confirmation"
    title = "A payout result import needs a second person's confirmation"


def _outcomes(record: PayoutResultImport) -> list[PayoutOutcome]:
    return [
        PayoutOutcome(int(p), str(o), None if r is None else str(r)) for p, o, r in record.outcomes
    ]


async def import_results(
    session: AsyncSession, text: str, *, actor_id: int
) -> tuple[PayoutResultImport, ResultSummary]:
    """Record the bank's answers as pending, with what they would do if confirmed now."""
    outcomes = parse_result_csv(text)
    summary = await preview_payout_results(session, outcomes)
    record = PayoutResultImport(
        status="pending",
        outcomes=[[o.payout_id, o.outcome, o.reason] for o in outcomes],
        sha256=hashlib.sha256(text.encode("utf-8")).hexdigest(),
        imported_by=actor_id,
        imported_at=utcnow(),
    )
    session.add(record)
    await session.flush()
    return record, summary


async def confirm_results(
    session: AsyncSession, import_id: int, *, actor_id: int
) -> tuple[PayoutResultImport, ResultSummary]:
    """A second operator applies the import (all or nothing, checked again now)."""
    record = (
        await session.execute(
            select(PayoutResultImport).where(PayoutResultImport.id == import_id).with_for_update()
        )
    ).scalar_one_or_none()
    if record is None:
        raise PayoutImportNotFound(f"No payout result import {import_id}.")
    if record.status != "pending":
        raise PayoutImportAlreadyConfirmed(f"Import {import_id} is already confirmed.")
    if record.imported_by == actor_id:
        raise PayoutImportSelfConfirmation(
            "You imported this result: another operator must confirm it."
        )
    summary = await apply_payout_results(session, _outcomes(record))
    record.status, record.confirmed_by, record.confirmed_at = "confirmed", actor_id, utcnow()
    await session.flush()
    return record, summary


async def list_imports(
    session: AsyncSession, *, status: str | None, limit: int
) -> list[PayoutResultImport]:
    query = select(PayoutResultImport).order_by(PayoutResultImport.id.desc()).limit(limit)
    if status is not None:
        query = query.where(PayoutResultImport.status == status)
    return list((await session.execute(query)).scalars())
