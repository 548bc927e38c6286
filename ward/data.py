"""The ward reference file shipped with the package (a Setagaya-like ward)."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any


@cache
def ward_reference() -> dict[str, Any]:
    text = resources.files("ward").joinpath("data/ward.json").read_text(encoding="utf-8")
    data: dict[str, Any] = json.loads(text)
    return data
