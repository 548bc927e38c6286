"""Part of ``machipay verify``: every benefit's budget agrees with its recipients and grants.

The ledger takes grant debits from a benefit's budget without locking it, because the
recipient list reserved them (one grant per recipient, DESIGN.md 3.3). So the books hold
only if, for every funded benefit, the budget account stands at the points of the
recipients not yet granted, and the run's counter agrees with the grants written.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

import ledger
from benefits.models import Benefit, BenefitGrant, BenefitRecipient
from ledger import Finding


async def _counts(
    session: AsyncSession, model: type[BenefitGrant] | type[BenefitRecipient]
) -> dict[int, int]:
    rows = await session.execute(select(model.benefit_id, func.count()).group_by(model.benefit_id))
    return {int(b): int(n) for b, n in rows}


async def verify_benefit_budgets(session: AsyncSession) -> list[Finding]:
    funded = list(
        (
            await session.execute(select(Benefit).where(Benefit.funding_entry_id.is_not(None)))
        ).scalars()
    )
    if not funded:
        return []
    balances = await ledger.get_balances(session, [ledger.benefit_budget(b.id) for b in funded])
    recipients = await _counts(session, BenefitRecipient)
    grants = await _counts(session, BenefitGrant)
    findings = []
    for benefit in funded:
        listed, granted = recipients.get(benefit.id, 0), grants.get(benefit.id, 0)
        owed = (listed - granted) * benefit.points_per_recipient
        balance = balances[ledger.benefit_budget(benefit.id)]
        where = f"benefit {benefit.id}"
        if balance != owed:
            findings.append(
                Finding(
                    "benefit-budget",
                    where,
                    f"budget account stands at {balance} but {listed - granted} recipients"
                    f" of {benefit.points_per_recipient} points are left ({owed})",
                )
            )
        if listed != benefit.recipients or granted != benefit.granted:
            findings.append(
                Finding(
                    "benefit-progress",
                    where,
                    f"{listed} recipients and {granted} grants written, the benefit says"
                    f" {benefit.recipients} and {benefit.granted}",
                )
            )
    return findings
