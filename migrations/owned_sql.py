"""Where the SQL functions and triggers live: the ``sql/`` folder of each context that owns
some (DESIGN.md §2). Read for ``alembic revision --autogenerate`` (env.py) and by the drift
test; a migration never reads them, it carries its own copy of the text."""

from __future__ import annotations

from pathlib import Path

# The contexts of DESIGN.md §2 and the infrastructure; a folder that does not exist is
# skipped. A function installed from a folder missing here fails the drift test.
OWNERS = (
    "machipay",
    "ledger",
    "wallet_api",
    "payments",
    "merchant_api",
    "settlement",
    "campaigns",
    "desk",
    "benefits",
    "analytics",
    "identity",
    "ward",
)

_ROOT = Path(__file__).resolve().parent.parent


def owned_sql_folders() -> list[Path]:
    return [folder for owner in OWNERS if (folder := _ROOT / owner / "sql").is_dir()]
