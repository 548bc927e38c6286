"""Batch jobs of settlement, one transaction per shop (run by the CLI and the
operator API)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from machipay.db import unit_of_work
from machipay.settings import Settings
from merchant_api import shops_to_settle
from settlement.service import settle_merchant

log = logging.getLogger(__name__)


@dataclass(slots=True)
class SettlementRun:
    as_of: date
    merchants: int = 0
    settled: int = 0
    carried_forward: int = 0
    payout_total: int = 0
    fees: int = 0
    campaign_funded: int = 0
    failures: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {
            "as_of": self.as_of.isoformat(),
            "merchants": self.merchants,
            "settled": self.settled,
            "carried_forward": self.carried_forward,
            "payout_total": self.payout_total,
            "fees": self.fees,
            "campaign_funded": self.campaign_funded,
            "failures": self.failures,
        }


async def run_settlement(
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    as_of: date,
    *,
    now: datetime | None = None,
) -> SettlementRun:
    """Settle every shop as of ``as_of``. A shop that fails is reported and the others
    go on; re-running settles only what is still due."""
    run = SettlementRun(as_of=as_of)
    async with sessionmaker() as session:
        merchant_ids = await shops_to_settle(session)
    run.merchants = len(merchant_ids)
    for merchant_id in merchant_ids:
        try:
            async with unit_of_work(sessionmaker) as session:
                statement = await settle_merchant(session, settings, merchant_id, as_of, now=now)
        except Exception as exc:  # one shop's problem must not stop the others' payouts
            log.exception("settlement failed", extra={"merchant_id": merchant_id})
            run.failures.append(f"merchant {merchant_id}: {exc}")
            continue
        if statement is None:
            continue
        if statement.status == "settled":
            run.settled += 1
            run.payout_total += statement.net_payout
            run.fees += statement.fees
            run.campaign_funded += statement.campaign_funded
        else:
            run.carried_forward += 1
    return run
