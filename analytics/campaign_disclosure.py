"""Figures about residents' spending that leave the campaign views (report, estimate,
totals), under the analysts' rules (``analytics.disclosure``): a figure about fewer than k
distinct residents (but at least one), or whose spend comes from too few shops or is
dominated by one or two of them, is not shown (``None``, with the reason); what is shown
is rounded, counts to 5 and yen to 3 significant figures.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from analytics.disclosure import ShopSpread, Thresholds, dominated, round_count, round_yen

TOO_FEW_RESIDENTS = "too few residents"
TOO_FEW_SHOPS = "too few shops, or one or two shops make up most of it"
HIDDEN_WITH_A_SIBLING = "hidden with another row, which it would give back by subtraction"

# The reason a hidden row or figure carries in an API answer, stable for clients: the
# console words each one (k residents vs a dominant shop vs complementary suppression).
REASON_CODES = {
    TOO_FEW_RESIDENTS: "few_residents",
    TOO_FEW_SHOPS: "dominant_shop",
    HIDDEN_WITH_A_SIBLING: "complementary",
}


def reason_code(reason: str | None) -> str | None:
    return None if reason is None else REASON_CODES[reason]


@dataclass(frozen=True, slots=True)
class Group:
    """The people and shops behind a figure."""

    residents: int
    shops: ShopSpread

    @classmethod
    def of(cls, residents: int, shop_spend: Iterable[int]) -> Group:
        return cls(residents, ShopSpread.of(shop_spend))


def hidden_because(group: Group, rules: Thresholds) -> str | None:
    """Why the group's figures may not be shown, or None when they may. A group nobody is
    in describes no one: its zeros are shown (a report can say "no spend before")."""
    if group.residents == 0:
        return None
    if group.residents < rules.min_residents:
        return TOO_FEW_RESIDENTS
    if dominated(group.shops, rules):
        return TOO_FEW_SHOPS
    return None


def yen(value: float, reason: str | None) -> int | None:
    return None if reason else round_yen(value)


def count(value: int, reason: str | None) -> int | None:
    return None if reason else round_count(value)
