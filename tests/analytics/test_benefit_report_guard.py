"""The benefit report's differencing guard on its own (analytics/benefit_reports.py): what
a second report may show given what the first published."""

from __future__ import annotations

from analytics.benefit_reports import TOTAL, disclose
from analytics.disclosure import Thresholds
from wallet_api import BenefitLotFigures

RULES = Thresholds(min_residents=3)


def lots(spent: dict[int, int]) -> list[BenefitLotFigures]:
    """Residents 1-5 in kitazawa, 6-10 in ikejiri, 11-15 in taishido, 1,000 points each,
    ``spent`` by some."""
    districts = ("kitazawa", "ikejiri", "taishido")
    return [
        BenefitLotFigures(r, districts[(r - 1) // 5], 1000, 1000 - spent.get(r, 0), 0)
        for r in range(1, 16)
    ]


def spent_figures(report: dict[str, object]) -> dict[str, object]:
    rows = {r["district_id"]: r["spent"] for r in report["rows"]}  # type: ignore[attr-defined]
    return rows | {TOTAL: report["total"]["spent"]}  # type: ignore[index]


def test_a_first_report_is_under_the_k_rules_alone() -> None:
    first = disclose(lots({1: 100, 2: 100, 3: 100, 6: 10, 7: 10, 8: 10}), RULES)
    assert spent_figures(first.report) == {
        "kitazawa": 300,
        "ikejiri": 30,
        "taishido": 0,
        TOTAL: 330,
    }
    assert first.published[("kitazawa", "spent")] == {1: 100, 2: 100, 3: 100}


def test_the_total_is_hidden_when_it_would_give_a_hidden_district_s_step_away() -> None:
    before = {1: 100, 2: 100, 3: 100, 6: 10, 7: 10, 8: 10, 11: 5, 12: 5, 13: 5}
    first = disclose(lots(before), RULES)
    assert spent_figures(first.report)[TOTAL] == 345
    # One kitazawa resident spends again, three ikejiri residents too: kitazawa's step is
    # one resident (hidden), taishido (the smallest) is hidden with it, yet it did not move:
    # the total minus ikejiri would be kitazawa's step again, so the total is hidden too.
    after = before | {1: 150, 6: 20, 7: 20, 9: 5}
    second = disclose(lots(after), RULES, first.published)
    assert spent_figures(second.report) == {
        "kitazawa": None,
        "ikejiri": 55,
        "taishido": None,
        TOTAL: None,
    }
    assert ("kitazawa", "spent") not in second.published
    assert (TOTAL, "spent") not in second.published
    # Granted did not move: shown as before.
    assert second.report["total"]["granted"] == 15_000
    # When the district hidden with it moved too, the total's step is about 4 residents.
    third = disclose(lots(after | {14: 5, 15: 5}), RULES, first.published)
    assert spent_figures(third.report)[TOTAL] == 430


def test_a_district_shown_only_when_k_residents_changed_since_it_was_published() -> None:
    before = {1: 100, 2: 100, 3: 100}
    first = disclose(lots(before), RULES)
    second = disclose(lots(before | {4: 100, 5: 100}), RULES, first.published)
    assert spent_figures(second.report)["kitazawa"] is None
    third = disclose(lots(before | {4: 100, 5: 100, 3: 120}), RULES, first.published)
    assert spent_figures(third.report)["kitazawa"] == 520
