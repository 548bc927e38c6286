"""A benefit's report (給付の実績): points granted, spent and expired, by district, under the
analysts' disclosure rules (``analytics.disclosure``).

* A district with fewer than k recipients shows nothing.
* Within a district, ``spent`` is a figure about the residents who spent, ``expired`` about
  those whose points expired: either is hidden when 1 to k−1 residents stand behind it.
* The total is published, so a figure hidden in exactly one district could be had back
  by subtracting the others from it: the smallest visible district's figure is hidden
  too (complementary suppression, per measure, ``disclosure.complementary``). The same
  holds for the total itself: a total about 1 to k−1 residents is hidden.
* What is shown is rounded: counts to 5, points to 3 significant figures.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from analytics.disclosure import Thresholds, complementary, round_count, round_yen
from wallet_api import BenefitLotFigures

MEASURES = ("granted", "spent", "expired")


@dataclass
class _Cell:
    recipients: int = 0
    granted: int = 0
    spent: int = 0
    expired: int = 0
    # Residents behind each measure (a recipient is behind "granted").
    behind: dict[str, int] = field(default_factory=lambda: dict.fromkeys(MEASURES, 0))

    def add(self, lot: BenefitLotFigures) -> None:
        self.recipients += 1
        self.granted += lot.granted
        self.spent += lot.spent
        self.expired += lot.expired
        self.behind["granted"] += 1
        self.behind["spent"] += 1 if lot.spent else 0
        self.behind["expired"] += 1 if lot.expired else 0


def _too_few(people: int, rules: Thresholds) -> bool:
    return 0 < people < rules.min_residents


def _by(cells: dict[str, _Cell], measure: str) -> Callable[[tuple[Any, ...]], Any]:
    return lambda key: (getattr(cells[key[0]], measure), key)


def disclose(lots: Sequence[BenefitLotFigures], rules: Thresholds) -> dict[str, Any]:
    """The report's rows (one per district with recipients) and total, with hidden figures
    as ``None`` and ``suppressed`` set on a district shown in no figure."""
    cells: dict[str, _Cell] = defaultdict(_Cell)
    total = _Cell()
    for lot in lots:
        cells[lot.district_id].add(lot)
        total.add(lot)
    keys = sorted((d,) for d in cells)
    rows_hidden = {k for k in keys if cells[k[0]].recipients < rules.min_residents}
    rows_hidden |= complementary(keys, rows_hidden, 1, size=lambda k: (cells[k[0]].recipients, k))
    hidden: dict[str, set[tuple[Any, ...]]] = {}
    for measure in MEASURES:
        own = set(rows_hidden) | {k for k in keys if _too_few(cells[k[0]].behind[measure], rules)}
        own |= complementary(keys, own, 1, size=_by(cells, measure))
        hidden[measure] = own
    rows = []
    for key in keys:
        cell = cells[key[0]]
        shown = key not in rows_hidden
        row: dict[str, Any] = {
            "district_id": key[0],
            "recipients": round_count(cell.recipients) if shown else None,
            "suppressed": not shown,
        }
        for measure in MEASURES:
            row[measure] = None if key in hidden[measure] else round_yen(getattr(cell, measure))
        rows.append(row)
    summary: dict[str, Any] = {
        "recipients": None if _too_few(total.recipients, rules) else round_count(total.recipients)
    }
    for measure in MEASURES:
        summary[measure] = (
            None
            if _too_few(total.behind[measure], rules) or _too_few(total.recipients, rules)
            else round_yen(getattr(total, measure))
        )
    return {
        "rows": rows,
        "total": summary,
        "suppressed": sum(1 for r in rows if r["suppressed"]),
        "min_residents": rules.min_residents,
    }
