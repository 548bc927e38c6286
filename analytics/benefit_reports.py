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
* Across time (the differencing guard, ``earlier``): a report read today and again
  tomorrow must not be subtracted to single out a resident. Every cell's population (the
  residents with a nonzero figure, and their figures) is remembered when it is published;
  a cell whose residents *changed* since (came, went, or spent or lost more points) by 1
  to k−1 is hidden, however many stand behind it. Counting changed residents, not
  population sizes: one resident who spends again leaves the population as it was. The
  total is checked the same way, and so is what it gives away with the shown districts
  (the hidden districts' sum, each district differenced against the most recent of its own
  or the total's publication): when that is 1 to k−1 changed residents the total is hidden.
  Only the latest publication of a cell is kept: the residents changed since an earlier one
  include those changed since the latest (figures only grow, but a refund can take one back;
  DESIGN note in docs/SECURITY.md).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from analytics.disclosure import Thresholds, complementary, round_count, round_yen
from wallet_api import BenefitLotFigures

MEASURES = ("granted", "spent", "expired")
TOTAL = "*"
# A cell's population: resident → their nonzero figure.
Population = dict[int, int]


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


def _figure(lot: BenefitLotFigures, measure: str) -> int:
    return int(getattr(lot, measure))


def _changed(now: Population, then: Population) -> int:
    """Residents whose figure differs between two publications of a cell (arrived, left, or
    a different figure): the people the difference of the two figures is about."""
    return sum(1 for r, v in now.items() if then.get(r) != v) + sum(1 for r in then if r not in now)


@dataclass
class Disclosed:
    """The report, and the populations of the cells it published (to be remembered)."""

    report: dict[str, Any]
    published: dict[tuple[str, str], Population]


def disclose(
    lots: Sequence[BenefitLotFigures],
    rules: Thresholds,
    earlier: Mapping[tuple[str, str], Population] | None = None,
) -> Disclosed:
    """The report's rows (one per district with recipients) and total, with hidden figures
    as ``None`` and ``suppressed`` set on a district shown in no figure. ``earlier``: the
    populations last published, by (district id or ``TOTAL``, measure)."""
    earlier = earlier or {}
    k = rules.min_residents
    cells: dict[str, _Cell] = defaultdict(_Cell)
    total = _Cell()
    now: dict[tuple[str, str], Population] = defaultdict(dict)
    for lot in lots:
        cells[lot.district_id].add(lot)
        total.add(lot)
        for measure in MEASURES:
            if figure := _figure(lot, measure):
                now[(lot.district_id, measure)][lot.resident_id] = figure
                now[(TOTAL, measure)][lot.resident_id] = figure
    keys = sorted((d,) for d in cells)
    rows_hidden = {k for k in keys if cells[k[0]].recipients < rules.min_residents}
    rows_hidden |= complementary(keys, rows_hidden, 1, size=lambda k: (cells[k[0]].recipients, k))
    hidden: dict[str, set[tuple[Any, ...]]] = {}
    for measure in MEASURES:
        own = set(rows_hidden) | {k for k in keys if _too_few(cells[k[0]].behind[measure], rules)}
        # A district published before and changed since by 1..k−1 residents.
        own |= {
            key
            for key in keys
            if (key[0], measure) in earlier
            and _too_few(_changed(now[(key[0], measure)], earlier[(key[0], measure)]), rules)
        }
        own |= complementary(keys, own, 1, size=_by(cells, measure))
        hidden[measure] = own
    rows = []
    for key in keys:
        cell = cells[key[0]]
        shown = key not in rows_hidden
        row: dict[str, Any] = {
            "district_id": key[0],
            # The recipients are the people behind "granted".
            "recipients": round_count(cell.recipients)
            if shown and key not in hidden["granted"]
            else None,
            "suppressed": not shown,
        }
        for measure in MEASURES:
            row[measure] = None if key in hidden[measure] else round_yen(getattr(cell, measure))
        rows.append(row)
    total_shown = {
        measure: not (
            _too_few(total.behind[measure], rules)
            or _too_few(total.recipients, rules)
            or _total_gives_away(measure, keys, hidden[measure], now, earlier, rules)
        )
        for measure in MEASURES
    }
    summary: dict[str, Any] = {
        "recipients": round_count(total.recipients)
        if total_shown["granted"] and not _too_few(total.recipients, rules)
        else None
    }
    for measure in MEASURES:
        summary[measure] = round_yen(getattr(total, measure)) if total_shown[measure] else None
    published: dict[tuple[str, str], Population] = {}
    for measure in MEASURES:
        for key in keys:
            if key not in hidden[measure]:
                published[(key[0], measure)] = now[(key[0], measure)]
        if total_shown[measure]:
            published[(TOTAL, measure)] = now[(TOTAL, measure)]
    return Disclosed(
        {
            "rows": rows,
            "total": summary,
            "suppressed": sum(1 for r in rows if r["suppressed"]),
            "min_residents": k,
        },
        published,
    )


def _total_gives_away(
    measure: str,
    keys: Sequence[tuple[Any, ...]],
    hidden: set[tuple[Any, ...]],
    now: Mapping[tuple[str, str], Population],
    earlier: Mapping[tuple[str, str], Population],
    rules: Thresholds,
) -> bool:
    """Whether the total, with this report's shown districts and earlier publications,
    singles out 1 to k−1 changed residents: the total against its own last publication,
    and the hidden districts' sum (total minus shown) against what was known of each hidden
    district before (its own last publication, or its part of the total's), whichever
    tells the most."""
    then_total = earlier.get((TOTAL, measure))
    current = now.get((TOTAL, measure), {})
    if then_total is not None and _too_few(_changed(current, then_total), rules):
        return True
    if not hidden:
        return False
    known_before = then_total is not None or any((key[0], measure) in earlier for key in hidden)
    if not known_before:
        return False  # nothing of these districts was published: the k rules suffice
    apart = 0
    for key in hidden:
        mine = now.get((key[0], measure), {})
        options = [len(mine)]  # nothing known of it: all its residents are behind it
        if (key[0], measure) in earlier:
            options.append(_changed(mine, earlier[(key[0], measure)]))
        if then_total is not None:
            # The district's part of the earlier total: its residents as they stand now.
            options.append(_changed(mine, {r: then_total[r] for r in mine if r in then_total}))
        apart += min(options)
    return _too_few(apart, rules)
