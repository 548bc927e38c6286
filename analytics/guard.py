"""The differencing guard: no two answers of one analyst may be subtracted to single out
fewer than k residents, and asking the guard is not free.

**Per published cell.** Every cell an analyst is shown is about a population: the facts
its *predicate* keeps, the query's filters and the cell's own dimension values together
(``{month: [M], district: [a, b], age_band: ["40-49"]}``). A cell is remembered
(``analytics_guard_cells``) with that predicate, the number of distinct *people* in it
and the measures shown. A new answer is given only if none of its cells differs from an
earlier cell of the same analyst sharing a measure by 1 to k−1 residents, the residents
having a fact that one cell keeps and the other does not: subtracting the two cells would
publish a cell about those few. Whole-query populations are not enough: two queries
whose totals differ by many residents can still have cells (one age band) that differ by
one. Nor are sets of people: a street's total and the same street in one month hold the
same people when everyone was active that month, yet differ by the other months of the
few who were active in others too.

**People, over the whole window.** Sizes count distinct residents by their stable person
key over every month the predicate spans (a resident active in ten months is one person,
not ten): monthly pseudonyms cannot be joined, so pairs of (month, pseudonym) would let a
single resident pass as k.

**Compact, and fast however long the history.** One row per analyst and distinct
predicate (a repeated cell updates its row: identical queries do not fill the history);
each row is a canonical JSON predicate, its fingerprint, the size and a bit set of
measures. Nothing is forgotten. The residents behind a difference include everyone in
one cell and not the other, so for a new cell of size s only rows with |size − s| < k
can be too close; they are found through the (analyst, persons) index. Of those,
predicates that are disjoint on a dimension (another street, another month) differ by
everyone in both, 2k or more, without reading data; only the rest cost one count of the
residents behind the difference, up to k: from the members of one rollup shape when both
name the same single month (or none) and only that shape's dimensions, else from the
facts (with the dimensions both name as a plain condition, so the facts' indexes serve
it) unless the rollups already show k people in one cell and not the other, within a
month both cover (or over all months): first from the cells' sizes there (one read for
every pair), then from their members (one statement for every pair left, each side's
people looked up in the other's cells until k are found), and a cell over all months
against the same cell in one month by the cell's people in another month (everyone with
a fact in a month one keeps and the other not is behind the difference). A query costs a
fixed handful of statements however many cells it shows and however long the history:
the size windows, the cells' sizes, the members, the upsert of what it showed. About 300
bytes a remembered cell with both indexes (10,000 cells: 3.0 MB).

**One analyst's queries one after another.** The allowance is charged first, with an
upsert on the analyst's row of the day: on PostgreSQL a second query of the same analyst
waits there until the first has committed, so its guard sees the cells the first one
showed (two queries sent at once cannot slip past each other).

**Refused, not suppressed.** An offending answer is refused as a whole rather than its
offending cells hidden: a cell hidden only by the guard would tell the analyst, for free,
that it differs from an earlier one by 1..k−1, and cannot be charged.

**Refusals are charged and read alike.** Threshold queries draw on a daily allowance per
analyst (``MACHIPAY_ANALYTICS_QUERIES_PER_DAY``, Tokyo days): an answer costs one, a
refusal ``MACHIPAY_ANALYTICS_REFUSAL_COST``. Once the day's allowance is used up, every
further query is refused until the next day. A refusal by the guard and one for the
allowance are the same problem, word for word, and cost the same, so the refusal does
not say which (nor, so, that some cell was 1 to k−1 residents away).
"""

from __future__ import annotations

import bisect
import hashlib
import itertools
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import (
    BigInteger,
    Integer,
    SmallInteger,
    Text,
    and_,
    bindparam,
    false,
    func,
    not_,
    or_,
    select,
    text,
    true,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from analytics.dimensions import DIMENSIONS
from analytics.models import Fact, QueryAllowance, RollupCell, RollupMember
from analytics.rollups import ALL_MONTHS, SHAPES, decode, encode
from machipay.errors import Forbidden
from machipay.timeutil import to_tokyo, utcnow

# Which figures a measure shows: cells are compared only with earlier cells showing one
# of the same. An average ticket is spend over payments: with either, it gives the other.
MEASURE_BITS = {
    "spend": 1,
    "payments": 2,
    "residents": 4,
    "average_ticket": 1 | 2,
    "points_used": 8,
    "rewards": 16,
}
# Beyond this many rollup cells a predicate's people are not read from the rollups.
MAX_CELLS = 5_000

Predicate = Mapping[str, frozenset[Any]]


class GuardRefused(Forbidden):
    """One problem for every refusal of a threshold query, whatever its cause."""

    type_slug = "analytics-differencing-refused"
    title = "This query is not answered"
    keep_changes = True  # the charge and the log entry stay

    def __init__(self) -> None:
        super().__init__(
            "Answering it could single out residents together with your earlier answers,"
            " or your query allowance for today is used up. A refusal counts against the"
            " allowance. Widen or change the filters, or ask again tomorrow."
        )


@dataclass(frozen=True, slots=True)
class Published:
    """A cell as the guard remembers it."""

    predicate: Predicate
    persons: int
    measures: int

    @property
    def text(self) -> str:
        return canonical(self.predicate)

    @property
    def fingerprint(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()[:32]


def _order(value: Any) -> tuple[bool, str]:
    return (value is not None, str(value))


def canonical(predicate: Predicate) -> str:
    return json.dumps(
        {name: sorted(values, key=_order) for name, values in sorted(predicate.items())},
        separators=(",", ":"),
        ensure_ascii=False,
    )


def parse(text: str) -> Predicate:
    return {name: frozenset(values) for name, values in json.loads(text).items()}


def measure_bits(measures: Iterable[str]) -> int:
    bits = 0
    for measure in measures:
        bits |= MEASURE_BITS[measure]
    return bits


def cell_predicate(
    filters: Mapping[str, Sequence[Any]], dimensions: Sequence[str], key: Sequence[Any]
) -> Predicate:
    """The residents a cell is about: the query's filters and the cell's values."""
    predicate = {name: frozenset(values) for name, values in filters.items()}
    for name, value in zip(dimensions, key, strict=True):
        predicate[name] = frozenset([value])
    return predicate


def _disjoint(one: Predicate, two: Predicate) -> bool:
    return any(name in two and values.isdisjoint(two[name]) for name, values in one.items())


def _condition(name: str, values: frozenset[Any]) -> Any:
    """The dimension has one of ``values``: true or false, never NULL (a missing street or
    campaign is a value of its own), so the condition can be negated."""
    column = DIMENSIONS[name]
    known = [v for v in values if v is not None]
    matches = and_(column.is_not(None), column.in_(known)) if known else false()
    return or_(column.is_(None), matches) if None in values else matches


def _holds(predicate: Predicate) -> Any:
    return and_(true(), *(_condition(name, values) for name, values in predicate.items()))


def _keeps(values: Mapping[str, Any], predicate: Predicate) -> bool:
    return all(values[name] in allowed for name, allowed in predicate.items())


async def _differing_from_rollups(
    session: AsyncSession, one: Predicate, two: Predicate, at_most: int
) -> int | None:
    """The count of ``differing_people`` from one rollup shape, when both predicates name
    the same single month (or none) and only dimensions of that shape: then whether a fact
    is kept depends on its cell alone, and the people are the members of the cells one
    keeps and the other not. None when no shape serves."""
    if one.get("month") != two.get("month"):
        return None
    months = one.get("month")
    if months is not None and len(months) != 1:
        return None
    named = (set(one) | set(two)) - {"month"}
    fitting = [shape for shape, dims in SHAPES.items() if named <= set(dims)]
    if not fitting:
        return None
    shape = min(fitting, key=lambda s: len(SHAPES[s]))
    month = ALL_MONTHS if months is None else next(iter(months))
    within = {name: values for name, values in one.items() if name != "month"}
    other = {name: values for name, values in two.items() if name != "month"}
    cells = []
    every = await session.scalars(
        select(RollupCell.cell).where(RollupCell.shape == shape, RollupCell.month == month)
    )
    for cell in every:
        values = dict(zip(SHAPES[shape], decode(shape, cell), strict=True))
        if _keeps(values, within) != _keeps(values, other):
            cells.append(cell)
    if not cells:
        return 0
    differing = (
        select(RollupMember.resident_key)
        .where(
            RollupMember.shape == shape, RollupMember.month == month, RollupMember.cell.in_(cells)
        )
        .distinct()
        .limit(at_most)
        .subquery()
    )
    return int(await session.scalar(select(func.count()).select_from(differing)) or 0)


_SHAPE_OF = {frozenset(dims): shape for shape, dims in SHAPES.items()}


def _exact_cells(predicate: Predicate) -> tuple[str, list[str]] | None:
    """The shape whose dimensions are exactly the predicate's (less month), and the cells
    of it the predicate keeps."""
    shape = _SHAPE_OF.get(frozenset(predicate) - {"month"})
    if shape is None:
        return None
    dims = SHAPES[shape]
    if math.prod(len(predicate[d]) for d in dims) > MAX_CELLS:
        return None
    return shape, [encode(c) for c in itertools.product(*(predicate[d] for d in dims))]


def _one_month(one: Predicate, two: Predicate) -> str | None:
    """The month partition both predicates can be compared in: ``*`` when neither names a
    month; a month one of them is limited to, when the other allows it too (the other's
    facts of that month are a part of its facts, so people apart there are apart)."""
    first, second = one.get("month"), two.get("month")
    if first is None and second is None:
        return ALL_MONTHS
    for mine, theirs in ((first, second), (second, first)):
        if mine is not None and len(mine) == 1 and (theirs is None or mine <= theirs):
            return str(next(iter(mine)))
    return None


# Per pair, the people in one side's cells and not in the other's, up to :k each way. A
# person in several of a side's cells counts at the first of them only (``d``), so no
# DISTINCT is needed and each count stops after k rows: the rows of a side come in
# index order and are looked up in the other side's cells one by one, so two sides
# that differ by many people are told apart after k look-ups, not after reading both.
# (OFFSET 0 keeps each look-up a probe of the primary key for one person: without it the
# planner makes the look-ups a join that scans the other side's members for every row.)
_APART_SQL = text(
    """
WITH side AS (
    SELECT w.pair, w.side, array_agg(w.cell) AS cells
    FROM unnest(:cell_pair, :cell_side, :cell) AS w(pair, side, cell)
    GROUP BY w.pair, w.side
), pair AS (
    SELECT p.pair, p.month, p.one_shape, one.cells AS one_cells,
           p.two_shape, two.cells AS two_cells
    FROM unnest(:pair, :month, :one_shape, :two_shape) AS p(pair, month, one_shape, two_shape)
    JOIN side one ON one.pair = p.pair AND one.side = 0
    JOIN side two ON two.pair = p.pair AND two.side = 1
)
SELECT p.pair,
    (SELECT count(*) FROM (
        SELECT 1 FROM analytics_rollup_members a
        WHERE a.shape = p.one_shape AND a.month = p.month AND a.cell = ANY(p.one_cells)
          AND NOT EXISTS (
            SELECT 1 FROM analytics_rollup_members b
            WHERE b.shape = p.two_shape AND b.month = p.month AND b.cell = ANY(p.two_cells)
              AND b.resident_key = a.resident_key
            OFFSET 0)
          AND NOT EXISTS (
            SELECT 1 FROM analytics_rollup_members d
            WHERE d.shape = p.one_shape AND d.month = p.month AND d.cell = ANY(p.one_cells)
              AND d.cell < a.cell AND d.resident_key = a.resident_key
            OFFSET 0)
        LIMIT :k) AS only_one),
    (SELECT count(*) FROM (
        SELECT 1 FROM analytics_rollup_members a
        WHERE a.shape = p.two_shape AND a.month = p.month AND a.cell = ANY(p.two_cells)
          AND NOT EXISTS (
            SELECT 1 FROM analytics_rollup_members b
            WHERE b.shape = p.one_shape AND b.month = p.month AND b.cell = ANY(p.one_cells)
              AND b.resident_key = a.resident_key
            OFFSET 0)
          AND NOT EXISTS (
            SELECT 1 FROM analytics_rollup_members d
            WHERE d.shape = p.two_shape AND d.month = p.month AND d.cell = ANY(p.two_cells)
              AND d.cell < a.cell AND d.resident_key = a.resident_key
            OFFSET 0)
        LIMIT :k) AS only_two)
FROM pair p
"""
).bindparams(
    bindparam("cell_pair", type_=ARRAY(Integer)),
    bindparam("cell_side", type_=ARRAY(Integer)),
    bindparam("cell", type_=ARRAY(Text)),
    bindparam("pair", type_=ARRAY(Integer)),
    bindparam("month", type_=ARRAY(Text)),
    bindparam("one_shape", type_=ARRAY(Text)),
    bindparam("two_shape", type_=ARRAY(Text)),
    bindparam("k", type_=Integer),
)


async def people_apart(
    session: AsyncSession, pairs: Sequence[tuple[Predicate, Predicate]], at_most: int
) -> list[int | None]:
    """For each pair, a lower bound of ``differing_people`` read from the rollups: the
    people in one cell and not in the other within one month's partition (or the
    all-months one), each of whom has a fact one keeps and the other not, up to
    ``at_most``. None for a pair with no such partition or not fitting shapes exactly
    (then the facts tell). One statement for every pair."""
    found: list[int | None] = [None] * len(pairs)
    columns: dict[str, list[Any]] = {
        name: []
        for name in ("cell_pair", "cell_side", "cell", "pair", "month", "one_shape", "two_shape")
    }
    for number, (one, two) in enumerate(pairs):
        month = _one_month(one, two)
        if month is None:
            continue
        first, second = _exact_cells(one), _exact_cells(two)
        if first is None or second is None:
            continue
        columns["pair"].append(number)
        columns["month"].append(month)
        columns["one_shape"].append(first[0])
        columns["two_shape"].append(second[0])
        for side, (_shape, cells) in enumerate((first, second)):
            for cell in cells:
                columns["cell_pair"].append(number)
                columns["cell_side"].append(side)
                columns["cell"].append(cell)
    if columns["pair"]:
        rows = await session.execute(_APART_SQL, {**columns, "k": at_most})
        for number, only_one, only_two in rows:
            found[number] = min(at_most, int(only_one) + int(only_two))
    return found


async def _people_apart(
    session: AsyncSession, one: Predicate, two: Predicate, at_most: int
) -> int | None:
    """``people_apart`` of one pair."""
    return (await people_apart(session, [(one, two)], at_most))[0]


async def differing_people(
    session: AsyncSession, one: Predicate, two: Predicate, *, at_most: int
) -> int:
    """How many residents have a fact that one predicate keeps and the other does not (the
    people the difference of the two cells is about), counted up to ``at_most``: from the
    rollups when a shape serves, else from the facts."""
    counted = await _differing_from_rollups(session, one, two, at_most)
    if counted is not None:
        return counted
    # Both keep only facts within the union of their values where both name a dimension:
    # said on its own it lets the database use its indexes (month, street).
    common = [_condition(name, values | two[name]) for name, values in one.items() if name in two]
    first, second = _holds(one), _holds(two)
    differing = (
        select(Fact.person_key)
        .where(*common, or_(and_(first, not_(second)), and_(second, not_(first))))
        .distinct()
        .limit(at_most)
        .subquery()
    )
    return int(await session.scalar(select(func.count()).select_from(differing)) or 0)


def _windows(sizes: Iterable[int], k: int) -> list[tuple[int, int]]:
    """The size ranges within k − 1 of any of ``sizes``, merged."""
    merged: list[tuple[int, int]] = []
    for size in sorted(set(sizes)):
        low, high = size - (k - 1), size + (k - 1)
        if merged and low <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], high)
        else:
            merged.append((low, high))
    return merged


# The analyst's rows within the size windows (merged, so disjoint: a row is in one at
# most), each window a range scan of the (analyst, persons) index. OFFSET 0 keeps it
# so: as a join the planner may read every row of the analyst once per window.
_EARLIER_SQL = text(
    """
SELECT g.persons, g.fingerprint, g.predicate, g.measures
FROM unnest(:low, :high) AS w(low, high)
CROSS JOIN LATERAL (
    SELECT g.persons, g.fingerprint, g.predicate, g.measures
    FROM analytics_guard_cells g
    WHERE g.analyst_id = :analyst AND g.persons BETWEEN w.low AND w.high
      AND g.measures & :bits <> 0
    OFFSET 0) AS g
ORDER BY g.persons
"""
).bindparams(
    bindparam("low", type_=ARRAY(BigInteger)),
    bindparam("high", type_=ARRAY(BigInteger)),
    bindparam("analyst", type_=BigInteger),
    bindparam("bits", type_=Integer),
)


async def _earlier(
    session: AsyncSession, analyst_id: int, cells: Sequence[Published], k: int
) -> list[tuple[int, str, Published]]:
    """The analyst's remembered cells near the new cells' sizes, sharing a measure with
    them, sorted by size: one statement however many windows."""
    bits = 0
    for cell in cells:
        bits |= cell.measures
    windows = _windows((c.persons for c in cells), k)
    rows = await session.execute(
        _EARLIER_SQL,
        {
            "low": [low for low, _ in windows],
            "high": [high for _, high in windows],
            "analyst": analyst_id,
            "bits": bits,
        },
    )
    return [
        (int(size), fingerprint, Published(parse(text), int(size), int(measures)))
        for size, fingerprint, text, measures in rows
    ]


@dataclass(frozen=True, slots=True)
class _Pair:
    """A new cell and an earlier one, as the rollups see them: the month partition both
    can be compared in (``_one_month``) and each one's cells of the shape it fits
    exactly (``_exact_cells``)."""

    new: Published
    old: Published
    month: str | None
    first: tuple[str, list[str]] | None
    second: tuple[str, list[str]] | None


# A primary-key look-up per cell (OFFSET 0: not a hash of every rollup cell).
_SIZES_SQL = text(
    """
SELECT c.shape, c.month, c.cell, c.residents
FROM unnest(:shape, :month, :cell) AS w(shape, month, cell)
CROSS JOIN LATERAL (
    SELECT c.shape, c.month, c.cell, c.residents
    FROM analytics_rollup_cells c
    WHERE c.shape = w.shape AND c.month = w.month AND c.cell = w.cell
    OFFSET 0) AS c
"""
).bindparams(
    bindparam("shape", type_=ARRAY(Text)),
    bindparam("month", type_=ARRAY(Text)),
    bindparam("cell", type_=ARRAY(Text)),
)


async def _month_sizes(
    session: AsyncSession, pairs: Sequence[_Pair]
) -> dict[tuple[str, str, str], int]:
    """The people of every rollup cell the pairs' predicates cover in the partition the
    two of a pair share: one read for all of them."""
    wanted: set[tuple[str, str, str]] = set()
    for pair in pairs:
        if pair.month is None:
            continue
        for exact in (pair.first, pair.second):
            if exact is not None:
                wanted.update((exact[0], pair.month, cell) for cell in exact[1])
    if not wanted:
        return {}
    shapes, months, cells = zip(*sorted(wanted), strict=True)
    rows = await session.execute(
        _SIZES_SQL, {"shape": list(shapes), "month": list(months), "cell": list(cells)}
    )
    return {(shape, month, cell): int(people) for shape, month, cell, people in rows}


def _sizes_apart(pair: _Pair, sizes: Mapping[tuple[str, str, str], int]) -> int | None:
    """A lower bound of ``differing_people`` from cell sizes alone: within the partition
    both share, the larger side has at least (its fewest) − (the other's most) people
    the other lacks. None when the rollups do not cover both."""
    month, first, second = pair.month, pair.first, pair.second
    if month is None or first is None or second is None:
        return None
    bounds = []
    for shape, cells in (first, second):
        counts = [sizes.get((shape, month, cell), 0) for cell in cells]
        # A person may be in several cells: at least the largest, at most the sum.
        bounds.append((max(counts, default=0), sum(counts)))
    (fewest_one, most_one), (fewest_two, most_two) = bounds
    return max(fewest_one - most_two, fewest_two - most_one, 0)


# Each cell's people in every month of the data (the ward's months), a primary-key
# look-up per month and cell.
_BY_MONTH_SQL = text(
    """
SELECT w.shape, c.month, w.cell, c.residents
FROM unnest(:shape, :cell) AS w(shape, cell)
CROSS JOIN LATERAL (
    SELECT c.month, c.residents
    FROM analytics_rollup_cells c
    WHERE c.shape = w.shape AND c.cell = w.cell AND c.month = ANY(:months)
    OFFSET 0) AS c
"""
).bindparams(
    bindparam("shape", type_=ARRAY(Text)),
    bindparam("cell", type_=ARRAY(Text)),
    bindparam("months", type_=ARRAY(Text)),
)


def _month_excluding(pair: _Pair) -> list[tuple[tuple[str, list[str]], Predicate, Predicate]]:
    """The sides of a pair whose cells are a shape's, with the other naming months."""
    sides = []
    for exact, mine, theirs in (
        (pair.first, pair.new.predicate, pair.old.predicate),
        (pair.second, pair.old.predicate, pair.new.predicate),
    ):
        if exact is not None and "month" in theirs:
            sides.append((exact, mine, theirs))
    return sides


async def _sizes_by_month(
    session: AsyncSession, pairs: Sequence[_Pair]
) -> dict[tuple[str, str, str], int]:
    """The people of each cell of ``_month_excluding``'s sides, month by month."""
    wanted = sorted(
        {
            (exact[0], cell)
            for pair in pairs
            for exact, _, _ in _month_excluding(pair)
            for cell in exact[1]
        }
    )
    if not wanted:
        return {}
    months = await session.scalars(
        select(RollupCell.month).where(RollupCell.shape == "ward", RollupCell.month != ALL_MONTHS)
    )
    shapes, cells = zip(*wanted, strict=True)
    rows = await session.execute(
        _BY_MONTH_SQL, {"shape": list(shapes), "cell": list(cells), "months": list(months)}
    )
    return {(shape, month, cell): int(people) for shape, month, cell, people in rows}


def _months_apart(pair: _Pair, sizes: Mapping[tuple[str, str, str], int]) -> int:
    """A lower bound of ``differing_people``: every fact of a month one side keeps and the
    other does not is kept by one only, so the people of any one of the side's cells in
    such a month (distinct within a month) are all behind the difference."""
    most = 0
    for (shape, cells), mine, theirs in _month_excluding(pair):
        allowed, excluded = mine.get("month"), theirs["month"]
        for (of_shape, month, cell), people in sizes.items():
            if of_shape != shape or cell not in cells or month in excluded:
                continue
            if allowed is None or month in allowed:
                most = max(most, people)
    return most


async def answers_too_close(
    session: AsyncSession, analyst_id: int, cells: Sequence[Published], k: int
) -> bool:
    """True when a new cell's facts differ from those of a cell the analyst was shown, but
    the residents behind the difference are fewer than ``k``: subtracting one cell from
    the other would show a cell of fewer than k. (Counting facts, not people: a street's
    total and the same street in one month differ by the other months of residents who
    are in both.) Cells disjoint on a dimension were both shown, so both hold k or more
    and they differ by 2k or more; cells k people apart in the rollups need no facts."""
    if not cells:
        return False
    earlier = await _earlier(session, analyst_id, cells, k)
    sizes = [row[0] for row in earlier]
    # Each predicate's cells worked out once, however many pairs it is in.
    exact: dict[str, tuple[str, list[str]] | None] = {}
    pairs: list[_Pair] = []
    for cell in cells:
        mine = cell.fingerprint
        exact[mine] = _exact_cells(cell.predicate)
        low = bisect.bisect_left(sizes, cell.persons - (k - 1))
        high = bisect.bisect_right(sizes, cell.persons + (k - 1))
        for _size, fingerprint, old in earlier[low:high]:
            if fingerprint == mine or not old.measures & cell.measures:
                continue
            if _disjoint(cell.predicate, old.predicate):
                continue
            if fingerprint not in exact:
                exact[fingerprint] = _exact_cells(old.predicate)
            month = _one_month(cell.predicate, old.predicate)
            pairs.append(_Pair(cell, old, month, exact[mine], exact[fingerprint]))
    # Most pairs are told apart by the sizes of their cells in a shared month: one read.
    month_sizes = await _month_sizes(session, pairs)
    close = []
    for pair in pairs:
        apart = _sizes_apart(pair, month_sizes)
        if apart is None or apart < k:
            close.append(pair)
    # Most of the rest by k people in one cell and not the other: one statement for all.
    found = await people_apart(session, [(p.new.predicate, p.old.predicate) for p in close], k)
    left = [pair for pair, apart in zip(close, found, strict=True) if apart is None or apart < k]
    # A cell over all months and the same cell in one: by its people in another month.
    by_month = await _sizes_by_month(session, left)
    for pair in left:
        if _months_apart(pair, by_month) >= k:
            continue
        # The few left are counted exactly, from the rollups or the facts.
        counted = await differing_people(session, pair.new.predicate, pair.old.predicate, at_most=k)
        if 0 < counted < k:
            return True
    return False


# A cell asked again as before leaves its row alone (no dead row per repeat).
_REMEMBER_SQL = text(
    """
INSERT INTO analytics_guard_cells AS g (analyst_id, fingerprint, predicate, persons, measures)
SELECT :analyst, w.fingerprint, w.predicate, w.persons, w.measures
FROM unnest(:fingerprint, :predicate, :persons, :measures)
    AS w(fingerprint, predicate, persons, measures)
ON CONFLICT (analyst_id, fingerprint) DO UPDATE
SET measures = g.measures | excluded.measures, persons = excluded.persons
WHERE g.measures | excluded.measures <> g.measures OR g.persons <> excluded.persons
"""
).bindparams(
    bindparam("analyst", type_=BigInteger),
    bindparam("fingerprint", type_=ARRAY(Text)),
    bindparam("predicate", type_=ARRAY(Text)),
    bindparam("persons", type_=ARRAY(BigInteger)),
    bindparam("measures", type_=ARRAY(SmallInteger)),
)


async def remember(session: AsyncSession, analyst_id: int, cells: Sequence[Published]) -> None:
    """Add the published cells to the analyst's history: a predicate already there keeps
    its row (with the measures now shown added, and its latest size). One statement."""
    fresh = {cell.fingerprint: cell for cell in cells}
    if not fresh:
        return
    await session.execute(
        _REMEMBER_SQL,
        {
            "analyst": analyst_id,
            "fingerprint": list(fresh),
            "predicate": [cell.text for cell in fresh.values()],
            "persons": [cell.persons for cell in fresh.values()],
            "measures": [cell.measures for cell in fresh.values()],
        },
    )


def allowance_day() -> date:
    return to_tokyo(utcnow()).date()


async def charge(session: AsyncSession, analyst_id: int, cost: int) -> int:
    """Add ``cost`` to what the analyst used today; returns the new total."""
    row = pg_insert(QueryAllowance).values(analyst_id=analyst_id, day=allowance_day(), used=cost)
    upsert = row.on_conflict_do_update(
        index_elements=["analyst_id", "day"],
        set_={"used": QueryAllowance.used + row.excluded.used},
    ).returning(QueryAllowance.used)
    return int((await session.execute(upsert)).scalar_one())
