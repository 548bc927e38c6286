"""What a benefit's report has published, per benefit (``analytics_benefit_report_cells``),
for the report's differencing guard (analytics/benefit_reports.py).

Per benefit, not per viewer: every officer, approver, operator and analyst is shown the same
report, so two accounts reading it on two days could put their copies together; one
history shared by all of them makes the guard hold whoever asks. Reports of one benefit are
made one after another (a transaction-scoped advisory lock), so two read at once cannot
both be checked against the same history and each publish a different one-resident step.

A cell's row holds its population: the residents with a nonzero figure, ascending, and
their figures, two arrays (12 bytes a resident; a ward-wide benefit of 180,000 recipients:
at most about 2 MB for each of its three measures' districts and as much for its totals).
A cell published again unchanged leaves its row alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from analytics.benefit_reports import Population
from analytics.models import BenefitReportCell

# The advisory lock's first key: benefit reports (the second is the benefit's id).
_LOCK_SPACE = 21_0001


async def hold_reports_of(session: AsyncSession, benefit_id: int) -> None:
    """Make this transaction the only one reporting on the benefit until it ends."""
    await session.execute(
        text("SELECT pg_advisory_xact_lock(:space, :id)"),
        {"space": _LOCK_SPACE, "id": benefit_id},
    )


async def published_before(
    session: AsyncSession, benefit_id: int
) -> dict[tuple[str, str], Population]:
    rows = await session.execute(
        select(
            BenefitReportCell.cell,
            BenefitReportCell.measure,
            BenefitReportCell.members,
            BenefitReportCell.figures,
        ).where(BenefitReportCell.benefit_id == benefit_id)
    )
    return {
        (str(cell), str(measure)): dict(zip(members, figures, strict=True))
        for cell, measure, members, figures in rows
    }


async def remember_published(
    session: AsyncSession,
    benefit_id: int,
    published: Mapping[tuple[str, str], Population],
    earlier: Mapping[tuple[str, str], Population],
    at: datetime,
) -> None:
    """Store the populations this report published that differ from what was stored."""
    fresh = [
        {
            "benefit_id": benefit_id,
            "cell": cell,
            "measure": measure,
            "members": sorted(population),
            "figures": [population[r] for r in sorted(population)],
            "published_at": at,
        }
        for (cell, measure), population in published.items()
        if earlier.get((cell, measure)) != population
    ]
    if not fresh:
        return
    insert = pg_insert(BenefitReportCell).values(fresh)
    await session.execute(
        insert.on_conflict_do_update(
            index_elements=["benefit_id", "cell", "measure"],
            set_={
                "members": insert.excluded.members,
                "figures": insert.excluded.figures,
                "published_at": insert.excluded.published_at,
            },
        )
    )
