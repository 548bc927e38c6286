"""Statistical disclosure control: what may be published about a cell of the answer.

Rules, each a setting:

* a cell about fewer than k distinct residents (``MACHIPAY_ANALYTICS_MIN_RESIDENTS``,
  default 10) shows nothing: no count, no sum, no average;
* a cell whose spend comes from fewer than 3 shops, or whose largest shop has over 50 %
  of it, or whose two largest over 67 % (the (1, 50) / (2, 67) dominance rules of
  national statistics offices) shows nothing: a shop owner could read a competitor's
  takings from it;
* published counts are rounded to 5 and yen to 3 significant figures.

A cell hidden alone among the cells that add up to a total (say, one age band of a street)
could be had back by subtracting its siblings from that total, which another query may
publish. So whenever a group of sibling cells has exactly one hidden cell, its smallest
visible sibling is hidden too (complementary, or secondary, suppression), along every
dimension of the answer until nothing changes.

Distinct residents are people over every month a cell spans: pseudonyms change every
month and cannot be joined, so they are counted by the stable person key
(analytics/pseudonyms.py), and a resident active in ten months is one person, not ten.
Which cells may be shown together with an analyst's earlier answers is the differencing
guard's business (analytics/guard.py).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Thresholds:
    min_residents: int = 10
    min_merchants: int = 3
    dominance_one: int = 50
    dominance_two: int = 67


@dataclass(frozen=True, slots=True)
class ShopSpread:
    """What the dominance rule needs of a cell's shops (refunds can make a shop negative;
    it counts as a shop with no spend)."""

    shops: int
    largest: int
    second: int
    total: int  # of the shops' positive spend

    @classmethod
    def of(cls, shop_spend: Iterable[int]) -> ShopSpread:
        ranked = sorted((max(0, s) for s in shop_spend), reverse=True)
        return cls(
            shops=len(ranked),
            largest=ranked[0] if ranked else 0,
            second=ranked[1] if len(ranked) > 1 else 0,
            total=sum(ranked),
        )


def dominated(shops: ShopSpread | list[int], rules: Thresholds) -> bool:
    """Too few shops, or one or two of them make up too much of the spend."""
    spread = shops if isinstance(shops, ShopSpread) else ShopSpread.of(shops)
    if spread.shops < rules.min_merchants:
        return True
    if spread.total <= 0:
        return False
    return (
        spread.largest * 100 > rules.dominance_one * spread.total
        or (spread.largest + spread.second) * 100 > rules.dominance_two * spread.total
    )


def suppressed(residents: int, shops: ShopSpread | list[int], rules: Thresholds) -> bool:
    return residents < rules.min_residents or dominated(shops, rules)


def round_count(value: int) -> int:
    return int(5 * round(value / 5))


def round_yen(value: int | float) -> int:
    """Three significant figures: ¥1,234,567 → ¥1,230,000; ¥987 → ¥987."""
    if value == 0:
        return 0
    digits = 2 - math.floor(math.log10(abs(value)))
    return int(round(float(value), digits))


def complementary(
    keys: Sequence[tuple[Any, ...]],
    hidden: set[tuple[Any, ...]],
    width: int,
    *,
    size: Callable[[tuple[Any, ...]], Any],
) -> set[tuple[Any, ...]]:
    """The cells to hide as well, so that no hidden cell is the only one of its siblings
    along any dimension (``size`` orders the candidates: the smallest goes first)."""
    extra: set[tuple[Any, ...]] = set()
    changed = True
    while changed:
        changed = False
        for dim in range(width):
            groups: dict[Hashable, list[tuple[Any, ...]]] = defaultdict(list)
            for key in keys:
                groups[key[:dim] + key[dim + 1 :]].append(key)
            for siblings in groups.values():
                if sum(1 for k in siblings if k in hidden or k in extra) != 1:
                    continue
                visible = [k for k in siblings if k not in hidden and k not in extra]
                if visible:
                    extra.add(min(visible, key=size))
                    changed = True
    return extra
