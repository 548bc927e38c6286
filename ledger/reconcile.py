"""Checking the books against the world (``machipay report reconcile``).

Two things must always hold, whatever the mix of payments, campaigns and payouts:

* the accounting identity: what the operator holds (the trust account ``bank:settlement``
  and the ward's campaign money ``bank:city``) equals everything it owes or has earned
  (residents' money and points, shops' payables and payouts in transit, campaign budgets
  and breakage, fees);
* the prepaid float is never spent on anything else: ``bank:settlement`` covers all
  residents' money (資金決済法 keeps it theirs).

With the bank's own figure for the trust account, it also says whether the books and
the bank agree.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession

from ledger.reports import ASSET_FAMILIES, balances_by_family


@dataclass(frozen=True, slots=True)
class Reconciliation:
    families: dict[str, int]
    assets: int
    liabilities_and_income: int
    identity_difference: int  # assets − (liabilities + income): 0 when the books balance
    float_cover: int  # bank:settlement − residents' money: never below 0
    bank_balance: int | None = None
    bank_difference: int | None = None  # bank's figure − bank:settlement in the books
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, object]:
        return {
            "families": self.families,
            "assets": self.assets,
            "liabilities_and_income": self.liabilities_and_income,
            "identity_difference": self.identity_difference,
            "float_cover": self.float_cover,
            "bank_balance": self.bank_balance,
            "bank_difference": self.bank_difference,
            "ok": self.ok,
            "problems": self.problems,
        }


async def reconcile(session: AsyncSession, *, bank_balance: int | None = None) -> Reconciliation:
    families = await balances_by_family(session)
    assets = sum(families[name] for name in ASSET_FAMILIES)
    owed = sum(total for name, total in families.items() if name not in ASSET_FAMILIES)
    difference = assets - owed
    cover = families["bank:settlement"] - families["resident money"]
    problems = []
    if difference:
        problems.append(f"assets and liabilities differ by ¥{difference:,}")
    if cover < 0:
        problems.append(f"bank:settlement is ¥{-cover:,} short of the residents' money")
    if families.get("other"):
        problems.append(f"¥{families['other']:,} on accounts outside the chart of accounts")
    bank_difference = None
    if bank_balance is not None:
        bank_difference = bank_balance - families["bank:settlement"]
        if bank_difference:
            problems.append(
                f"the bank says ¥{bank_balance:,}, the books ¥{families['bank:settlement']:,}"
            )
    return Reconciliation(
        families=families,
        assets=assets,
        liabilities_and_income=owed,
        identity_difference=difference,
        float_cover=cover,
        bank_balance=bank_balance,
        bank_difference=bank_difference,
        problems=problems,
    )
