"""Every context's tables, imported so that one metadata (and Alembic) sees them all."""

from __future__ import annotations


def import_all_models() -> None:
    import analytics.models  # noqa: F401
    import benefits.models  # noqa: F401
    import campaigns.models  # noqa: F401
    import desk.models  # noqa: F401
    import identity.models  # noqa: F401
    import ledger.models  # noqa: F401
    import machipay.idempotency
    import machipay.outbox  # noqa: F401
    import merchant_api.models  # noqa: F401
    import payments.models  # noqa: F401
    import settlement.models  # noqa: F401
    import wallet_api.models  # noqa: F401
    import ward.models  # noqa: F401
