"""The payment router is tried first (assembly/app.py): that is safe only while no other
router matches any of its paths, for any method. Every route of every router, with sample
values in its path parameters, is matched against every router of the real app."""

from __future__ import annotations

import re

from starlette.routing import Match

from assembly.app import create_app
from machipay.settings import Settings
from payments import routes as payment_routes

SAMPLES = ("1", "x", "approvals", "current", "recipient")


def test_no_other_router_matches_a_payment_path() -> None:
    app = create_app(Settings(environment="test", secret_key="t" * 40), configure_logs=False)
    tops = list(app.router.routes)
    payments = next(
        top for top in tops if getattr(top, "original_router", None) is payment_routes.router
    )
    assert tops.index(payments) <= 2  # after the docs' routes at most
    checked = 0
    for top in tops:
        for route in getattr(getattr(top, "original_router", None), "routes", []):
            for sample in SAMPLES:
                path = re.sub(r"\{[^}]+\}", sample, route.path)
                for method in route.methods:
                    scope = {"type": "http", "path": path, "method": method, "root_path": ""}
                    matching = [t for t in tops if t.matches(scope)[0] != Match.NONE]
                    checked += 1
                    if payments in matching:
                        assert matching == [payments], (method, path)
    assert checked > 500
