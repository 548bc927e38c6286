"""What residents spend per payment (the load test and the demo ward use it).

A long tail around ¥1,500: log-normal with median ¥1,100 and σ 0.8, so the mean is about
¥1,500 and one payment in a hundred is above ¥7,000; rounded to ¥10, within ¥100–¥30,000.
"""

from __future__ import annotations

import math
import random

MEDIAN_YEN = 1_100
SIGMA = 0.8
LOWEST, HIGHEST = 100, 30_000


def amount_yen(rng: random.Random) -> int:
    value = math.exp(rng.gauss(math.log(MEDIAN_YEN), SIGMA))
    return int(min(HIGHEST, max(LOWEST, round(value, -1))))
