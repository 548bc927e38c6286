"""The unused-balance report of a prepaid payment instrument (資金決済法).

An issuer of a prepaid instrument (前払式支払手段) reports its unused balance
(基準日未使用残高) as of each base date (31 March and 30 September). When that balance is
above ¥10,000,000, it must deposit at least half of it (発行保証金, Art. 14): half of the
whole unused balance, not only of the part above the threshold. Only residents' money
counts: campaign points are free, not a prepaid instrument.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy.ext.asyncio import AsyncSession

import ledger
from machipay.timeutil import tokyo_day_bounds

DEPOSIT_THRESHOLD = 10_000_000


@dataclass(frozen=True, slots=True)
class DepositReport:
    as_of: date
    unused_balance: int
    threshold: int
    above_threshold: int
    deposit_required: int

    def as_dict(self) -> dict[str, object]:
        return {
            "as_of": self.as_of.isoformat(),
            "unused_balance": self.unused_balance,
            "threshold": self.threshold,
            "above_threshold": self.above_threshold,
            "deposit_required": self.deposit_required,
        }


def deposit_for(unused_balance: int) -> int:
    """Half of the unused balance, rounded up to the yen, once it is above the threshold."""
    if unused_balance <= DEPOSIT_THRESHOLD:
        return 0
    return -(-unused_balance // 2)


async def deposit_report(session: AsyncSession, as_of: date) -> DepositReport:
    """The residents' unused money at the end of ``as_of`` (Asia/Tokyo), from the postings:
    right for any past date, whatever happened since."""
    _, end_of_day = tokyo_day_bounds(as_of)
    unused = await ledger.total_as_of(session, ledger.resident_money("%"), end_of_day)
    return DepositReport(
        as_of=as_of,
        unused_balance=unused,
        threshold=DEPOSIT_THRESHOLD,
        above_threshold=max(0, unused - DEPOSIT_THRESHOLD),
        deposit_required=deposit_for(unused),
    )
