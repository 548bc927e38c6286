"""What an analyst can break spending down by: each dimension and the fact column behind it.

One map for every reader of the facts (queries, rollups, DP mode), so a new dimension is
added in one place.
"""

from __future__ import annotations

from analytics.models import Fact

DIMENSIONS = {
    "shopping_street": Fact.shopping_street_id,
    "district": Fact.district_id,
    "category": Fact.category,
    "store_type": Fact.store_type,
    "age_band": Fact.age_band,
    "month": Fact.month,
    "week": Fact.week,
    "weekday": Fact.weekday,
    "hour": Fact.hour,
    "campaign": Fact.campaign_id,
}
# Stored as numbers: filter values given as digit strings are converted.
INTEGER_DIMENSIONS = frozenset({"shopping_street", "weekday", "hour", "campaign"})
# Ten-year bands, top-coded at 80 (the ingest's age_band() makes exactly these).
AGE_BANDS = ("10-19", "20-29", "30-39", "40-49", "50-59", "60-69", "70-79", "80+")
