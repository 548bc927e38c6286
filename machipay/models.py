"""Every context's tables, imported so that one metadata (and Alembic) sees them all."""

from __future__ import annotations


def import_all_models() -> None:
    import wallet_api.models  # noqa: F401
