"""A campaign's status, as decided and as lived, and the audit trail of every change."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, case, event, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from campaigns.models import Campaign, CampaignAudit
from machipay.timeutil import as_utc, utcnow


def live_status(campaign: Campaign, now: datetime) -> str:
    """``approved`` before the window, ``active`` in it, ``ended`` after it."""
    if campaign.status != "approved":
        return campaign.status
    if now >= as_utc(campaign.ends_at):
        return "ended"
    if now >= as_utc(campaign.starts_at):
        return "active"
    return "approved"


def live_status_column(now: datetime) -> ColumnElement[str]:
    """:func:`live_status` as SQL, to filter on."""
    return case(
        (
            Campaign.status == "approved",
            case(
                (Campaign.ends_at <= now, "ended"),
                (Campaign.starts_at <= now, "active"),
                else_="approved",
            ),
        ),
        else_=Campaign.status,
    )


def audit(
    session: AsyncSession,
    campaign_id: int,
    *,
    actor_id: int | None,
    action: str,
    changes: dict[str, Any],
) -> None:
    session.add(
        CampaignAudit(
            campaign_id=campaign_id, actor_id=actor_id, action=action, changes=changes, at=utcnow()
        )
    )


async def end_campaign(
    session: AsyncSession, campaign_id: int, *, reason: str, actor_id: int | None
) -> bool:
    """Mark an approved campaign ended (by hand, by its budget, or by its window).

    One conditional UPDATE, so a campaign ends once however many payments find its budget
    empty at the same moment. True if this call ended it.
    """
    now = utcnow()
    ended = (
        await session.execute(
            update(Campaign)
            .where(Campaign.id == campaign_id, Campaign.status == "approved")
            .values(status="ended", ended_at=now, end_reason=reason)
            .returning(Campaign.id)
            .execution_options(synchronize_session=False)
        )
    ).first()
    if ended is None:
        return False
    audit(
        session,
        campaign_id,
        actor_id=actor_id,
        action="end",
        changes={"status": ["approved", "ended"], "end_reason": reason},
    )
    campaigns_changed_after_commit(session)
    return True


_changes = 0


def changes_seen() -> int:
    """How many campaign changes this process has committed (engines reload when it moves)."""
    return _changes


def campaigns_changed_after_commit(session: AsyncSession) -> None:
    """Make every engine in this process reload its campaigns once this session commits."""

    def bump(_session: Session) -> None:
        global _changes
        _changes += 1

    event.listen(session.sync_session, "after_commit", bump, once=True)
